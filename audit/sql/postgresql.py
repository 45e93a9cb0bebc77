# ruff: noqa: S608 - SQL text is built from the events table's name and partition names made
# in this module; every value goes through query parameters.
"""The monthly partitions of ``audit_auditevent`` on PostgreSQL (migration 0005).

One partition per UTC calendar month, named ``audit_auditevent_pYYYYMM``, plus
``audit_auditevent_default``, which takes an event of a month with no partition (none in
normal operation: an event's ``occurred_at`` is the moment it is recorded, and partitions
exist months ahead), so recording never fails for want of a partition.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent

logger = logging.getLogger("roster.audit")

EVENTS = AuditEvent._meta.db_table
DEFAULT_PARTITION = f"{EVENTS}_default"
# A drop waits this long for the events table's lock, then gives up until the next run:
# while it waits, every statement on the table (each audited request's INSERT) queues.
DROP_LOCK_TIMEOUT = "2s"


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def partition_name(start: datetime) -> str:
    return f"{EVENTS}_p{start:%Y%m}"


def partitions() -> list[tuple[str, datetime, datetime]]:
    """(name, start, end) of the monthly partitions, oldest first (not the default one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass AND c.relname <> %s ORDER BY c.relname",
            [EVENTS, DEFAULT_PARTITION],
        )
        names = [name for (name,) in cursor.fetchall()]
    out = []
    for name in names:
        start = datetime.strptime(name[-6:], "%Y%m").replace(tzinfo=UTC)
        out.append((name, start, next_month(start)))
    return out


def ensure_partitions(now: datetime, months_ahead: int) -> list[str]:
    """Create the partitions of the month of ``now`` and the ``months_ahead`` after it that
    do not exist yet; the names created. Idempotent and safe to run concurrently.

    Creating a month makes PostgreSQL check that the default partition holds none of its
    rows; if it does (a month that had no partition when its events came), that month is
    skipped with a warning and its rows stay in the default partition, counted and sealed
    as any other.
    """
    existing = {name for name, _, _ in partitions()}
    start = month_start(now)
    created = []
    with connection.cursor() as cursor:
        for _ in range(months_ahead + 1):
            end = next_month(start)
            name = partition_name(start)
            if name not in existing:
                try:
                    with transaction.atomic():
                        cursor.execute(
                            f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF {EVENTS} '
                            "FOR VALUES FROM (%s) TO (%s)",
                            [start, end],
                        )
                    created.append(name)
                except DatabaseError as exc:
                    logger.warning("audit events partition %s not created: %s", name, exc)
            start = end
    return created


def partition_summary(name: str) -> tuple[int, int | None, int | None, int]:
    """(rows, lowest seq, highest seq, unsealed rows) of one partition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), min(seq), max(seq), count(*) FILTER (WHERE seq IS NULL) "
            f'FROM "{name}"'
        )
        rows, first_seq, last_seq, unsealed = cursor.fetchone()
    return int(rows), first_seq, last_seq, int(unsealed)


def link_at_or_after(after_seq: int, up_to_seq: int, cutoff: datetime) -> bool:
    """Whether a link in (after_seq, up_to_seq] of the chain occurred at or after ``cutoff``
    (only the partitions from the cutoff's month on are read)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {EVENTS} WHERE seq > %s AND seq <= %s AND occurred_at >= %s LIMIT 1",
            [after_seq, up_to_seq, cutoff],
        )
        return cursor.fetchone() is not None


def seal_of(name: str, seq: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT seal FROM "{name}" WHERE seq = %s', [seq])
        return cursor.fetchone()[0]


def delete_links_outside(after_seq: int, up_to_seq: int, start: datetime, end: datetime) -> int:
    """Delete the links in (after_seq, up_to_seq] stored outside [start, end) (a few events
    of a neighbouring month sealed among this month's); the number deleted. The caller has
    opened ``audit.services.retention_deletes``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {EVENTS} WHERE seq > %s AND seq <= %s "
            "AND (occurred_at < %s OR occurred_at >= %s)",
            [after_seq, up_to_seq, start, end],
        )
        return cursor.rowcount


def drop_partition(name: str) -> None:
    """``DROP TABLE`` of one partition, in the caller's transaction, waiting at most
    ``DROP_LOCK_TIMEOUT`` for the events table's lock (``OperationalError`` past it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
        cursor.execute(f'DROP TABLE "{name}"')
