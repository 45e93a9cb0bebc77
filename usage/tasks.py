"""Celery tasks of usage: each calls one service and is safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from usage import services


@shared_task(name="usage.rollup", ignore_result=True, acks_late=True)
def rollup() -> int:
    """Beat task: roll un-rolled events into hourly/daily buckets, then re-check quotas.

    Several runs may overlap (slow run, several workers): each claims its own events with
    SKIP LOCKED, so nothing is counted twice and nobody waits for anybody."""
    return services.usage_rollup_and_check_quotas()


@shared_task(name="usage.purge_events", ignore_result=True, acks_late=True)
def purge_events() -> int:
    """Beat task: delete rolled raw events older than ROSTER["USAGE_RETENTION_DAYS"] (whole
    monthly partitions dropped on PostgreSQL)."""
    return services.usage_events_purge()


@shared_task(name="usage.ensure_partitions", ignore_result=True, acks_late=True)
def ensure_partitions() -> int:
    """Beat task: create the usage events partitions of this month and the next few
    (PostgreSQL; a no-op on SQLite). Idempotent: existing partitions are left alone."""
    return len(services.usage_partitions_ensure())


@shared_task(
    name="usage.check_quota",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def check_quota(user_id: str, meter_ids: list[int]) -> int:
    """Queued after an ingestion commits: flag (once per window) a limit the user crossed."""
    return len(services.usage_quota_check(user=user_id, meter_ids=meter_ids))
