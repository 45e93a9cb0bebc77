"""Audit background work: the sealer (every few seconds), retention and the events
partitions ahead (daily)."""

from __future__ import annotations

from celery import shared_task

from audit import services


@shared_task(name="audit.seal_events", ignore_result=True)
def seal_events() -> int:
    """Link newly committed events into the hash chain.

    Single-flight: while one run holds the chain row, another returns at once, so beat may
    fire it every few seconds on any number of workers."""
    return services.events_seal()


@shared_task(
    name="audit.prune_events",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=60,
    max_retries=5,
)
def prune_events() -> int:
    """Delete sealed events past ROSTER["AUDIT_RETENTION_DAYS"], moving the checkpoint.

    Safe to run twice: each batch locks the chain row and re-reads the checkpoint."""
    services.events_seal()
    return services.events_prune()


@shared_task(name="audit.ensure_partitions", ignore_result=True, acks_late=True)
def ensure_partitions() -> int:
    """Beat task: create the audit events partitions of this month and the next few
    (PostgreSQL; a no-op on SQLite). Idempotent: existing partitions are left alone."""
    return len(services.events_partitions_ensure())
