"""Retention: purge raw events older than the setting; partitions of the events table.

On PostgreSQL the events table is partitioned by month of ``occurred_at``. Partitions are
created ahead (``usage_partitions_ensure``, a beat task, and migration 0004 for the current
window); retention drops a month's partition whole once it ends before the cutoff and holds
no un-rolled event, and deletes rows only from the month the cutoff falls in (and from the
default partition). SQLite keeps one table: rows only. Idempotency keys are never purged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from usage.sql import dialect

# Months created ahead of the current one: the task can fail for weeks before ingestion
# would meet a month without its partition (and then rows land in the default partition).
PARTITION_MONTHS_AHEAD = 3


def usage_partitions_ensure(*, now: datetime | None = None) -> list[str]:
    """Create the events partitions of the current month and the next few (PostgreSQL;
    nothing on SQLite); the names created. Safe to run twice or concurrently."""
    now = now or timezone.now()
    late = now - timedelta(days=settings.ROSTER["USAGE_LATE_ARRIVAL_DAYS"])
    # Late arrivals may still file events in the month before this one during its first days.
    back = 0 if (late.year, late.month) == (now.year, now.month) else 1
    return dialect().ensure_partitions(now, PARTITION_MONTHS_AHEAD, months_back=back)


def usage_events_purge(*, now: datetime | None = None, batch_size: int = 10_000) -> int:
    """Delete raw events older than the retention setting, but only rolled ones; the number.

    Whole partitions past the cutoff go first (a drop, not a delete); the rest row by row.
    Their buckets keep the totals; keys stay, so a replay after the purge is a duplicate.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ROSTER["USAGE_RETENTION_DAYS"])
    sql = dialect()
    deleted = sql.drop_expired_partitions(cutoff)
    while True:
        with transaction.atomic():
            count = sql.purge_batch(cutoff, batch_size, now)
        deleted += count
        if count < batch_size:
            return deleted
