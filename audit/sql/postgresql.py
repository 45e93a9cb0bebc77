# ruff: noqa: S608 - SQL text is built from the events table's name and partition names made
# in this module; every value goes through query parameters.
"""The monthly partitions of ``audit_auditevent`` on PostgreSQL (migration 0005).

One partition per UTC calendar month, named ``audit_auditevent_pYYYYMM``, plus
``audit_auditevent_default``, which takes an event of a month with no partition (none in
normal operation: an event's ``occurred_at`` is the moment it is recorded, and partitions
exist months ahead), so recording never fails for want of a partition. Creating, listing
and dropping months is ``config.partitions``'; what retention may drop is ``audit.services``'.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from audit.models import AuditEvent
from config.partitions import MonthlyPartitions
from config.partitions import month_start as month_start

EVENTS = AuditEvent._meta.db_table
PARTITIONS = MonthlyPartitions(EVENTS)
DEFAULT_PARTITION = PARTITIONS.default
partition_name = PARTITIONS.name
partitions = PARTITIONS.all
drop_partition = PARTITIONS.drop


def ensure_partitions(now: datetime, months_ahead: int) -> list[str]:
    """Create the month of ``now`` and the ``months_ahead`` after it (config.partitions)."""
    return PARTITIONS.ensure(now, months_ahead)


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
