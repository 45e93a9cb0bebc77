"""Rollups: raw events into hourly and daily buckets, incrementally, with several workers."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone

from usage import selectors
from usage.services.quota import limited_meter_ids, usage_quota_check
from usage.sql import dialect

logger = logging.getLogger(__name__)


@dataclass
class RollupResult:
    events: int = 0
    batches: int = 0
    touched: dict[str, set[int]] = field(default_factory=dict)


def _rollup_batch_with_retries(batch_size: int, now: datetime) -> list[tuple]:
    batch = dialect().rollup_batch
    for attempt in range(3):
        try:
            return batch(batch_size, now)
        except OperationalError as exc:  # deadlock or serialization hiccup: try again
            if attempt == 2:
                raise
            logger.warning("usage rollup batch retried: %s", exc.__class__.__name__)
    raise AssertionError("unreachable")


def usage_rollup(
    *, batch_size: int = 5000, max_batches: int | None = 200, now: datetime | None = None
) -> RollupResult:
    """Roll un-rolled events into hourly and daily buckets, a batch per transaction.

    Safe with several workers: each claims events with ``FOR UPDATE SKIP LOCKED`` and marks
    them in the transaction that adds them to the buckets; events whose transactions commit
    late are simply un-rolled until a later run. Late events add to their old buckets.
    """
    result = RollupResult()
    while max_batches is None or result.batches < max_batches:
        rows = _rollup_batch_with_retries(batch_size, now or timezone.now())
        if not rows:
            break
        result.batches += 1
        for user_id, meter_id, count in rows:
            result.events += int(count)
            result.touched.setdefault(str(user_id), set()).add(meter_id)
        if sum(int(r[2]) for r in rows) < batch_size:
            break
    return result


def usage_rollup_and_check_quotas(*, batch_size: int = 5000, max_batches: int | None = 200) -> int:
    """The periodic job: roll up, then re-check quotas of users whose usage just rolled."""
    result = usage_rollup(batch_size=batch_size, max_batches=max_batches)
    # In the shared cache, so the admin dashboard sees runs of any worker on any machine.
    cache.set(
        selectors.ROLLUP_LAST_RUN_KEY,
        {"at": timezone.now().isoformat(), "events": result.events},
        timeout=None,
    )
    if result.touched:
        touched = {uuid.UUID(u): ids for u, ids in result.touched.items()}
        limited = limited_meter_ids(touched)
        for user_id, meter_ids in touched.items():
            wanted = meter_ids & limited.get(user_id, set())
            if wanted:
                try:
                    usage_quota_check(user=user_id, meter_ids=wanted)
                except Exception:  # one user's check must not stop the others
                    logger.exception("quota check failed for %s", user_id)
    return result.events
