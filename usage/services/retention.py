"""Retention: purge raw events older than the setting, keeping their idempotency keys."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from usage.sql import dialect


def usage_events_purge(*, now: datetime | None = None, batch_size: int = 10_000) -> int:
    """Delete raw events older than the retention setting, but only rolled ones.

    Their buckets keep the totals; keyed events leave their key behind, so a replay
    after the purge is still a duplicate.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ROSTER["USAGE_RETENTION_DAYS"])
    purge_batch = dialect().purge_batch
    deleted = 0
    while True:
        with transaction.atomic():
            count = purge_batch(cutoff, batch_size, now)
        deleted += count
        if count < batch_size:
            return deleted
