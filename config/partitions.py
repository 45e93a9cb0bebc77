# ruff: noqa: S608 - SQL text is built from a table name given by the calling app and
# partition names made here; every value goes through query parameters.
"""Monthly range partitions of a PostgreSQL table, for the apps whose events grow without
end (``usage`` and ``audit`` events, each partitioned by ``occurred_at`` in its migration).

One partition per UTC calendar month, named ``<table>_pYYYYMM``, plus ``<table>_default``,
which takes a row of a month that has no partition (none in normal operation: partitions
are created months ahead by each app's periodic task), so an insert never fails for want
of a partition. What may be dropped, and when, is each app's rule; how to create, list and
drop a month is this module's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger("roster.partitions")

# A drop waits this long for the parent table's lock, then gives up until the next run:
# while it waits, every statement on the table (each insert) queues behind it.
DROP_LOCK_TIMEOUT = "2s"


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


class MonthlyPartitions:
    """The monthly partitions of one partitioned ``table``."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.default = f"{table}_default"

    def name(self, start: datetime) -> str:
        return f"{self.table}_p{start:%Y%m}"

    def all(self) -> list[tuple[str, datetime, datetime]]:
        """(name, start, end) of the monthly partitions, oldest first (not the default)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = %s::regclass AND c.relname <> %s ORDER BY c.relname",
                [self.table, self.default],
            )
            names = [name for (name,) in cursor.fetchall()]
        out = []
        for name in names:
            start = datetime.strptime(name[-6:], "%Y%m").replace(tzinfo=UTC)
            out.append((name, start, next_month(start)))
        return out

    def ensure(self, now: datetime, months_ahead: int, months_back: int = 0) -> list[str]:
        """Create the partitions from ``months_back`` before the month of ``now`` to
        ``months_ahead`` after it that do not exist yet; the names created.

        Idempotent and safe to run concurrently (``IF NOT EXISTS``). Creating a month makes
        PostgreSQL check that the default partition holds none of its rows; if it does (a
        month that had no partition when its rows came), that month is skipped with a
        warning and its rows stay in the default partition; the other months are created.
        """
        start = month_start(now)
        for _ in range(months_back):
            start = (start - timedelta(days=1)).replace(day=1)
        existing = {name for name, _, _ in self.all()}
        created = []
        with connection.cursor() as cursor:
            for _ in range(months_back + months_ahead + 1):
                end = next_month(start)
                name = self.name(start)
                if name not in existing:
                    try:
                        with transaction.atomic():
                            cursor.execute(
                                f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF {self.table} '
                                "FOR VALUES FROM (%s) TO (%s)",
                                [start, end],
                            )
                        created.append(name)
                    except DatabaseError as exc:
                        logger.warning("partition %s not created: %s", name, exc)
                start = end
        return created

    def drop(self, name: str) -> None:
        """``DROP TABLE`` of one partition, in the caller's transaction, waiting at most
        ``DROP_LOCK_TIMEOUT`` for the parent's lock (``OperationalError`` past it)."""
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            cursor.execute(f'DROP TABLE "{name}"')
