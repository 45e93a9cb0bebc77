"""Ingestion: store one event or a batch, validated by ``usage.contract``, all or nothing.

Ingestion is idempotent per (user, idempotency key), forever, whatever partition an event
lands in. On PostgreSQL the events table is partitioned by month of ``occurred_at``, and a
unique index of a partitioned table must include the partition key: (user, key, occurred_at)
would let a replay with another ``occurred_at`` in. So the guarantee lives in a separate,
unpartitioned table, ``IdempotencyKey`` (user, key) → the event's meter, quantity, slot and
occurred_at, written in the same transaction (the same statement on PostgreSQL) as the
event: its unique constraint decides between concurrent retries, only the event whose key
went in is stored, and a rolled-back request never burns a key. Retention deletes raw
events and drops partitions but never keys, so a replay after a purge is still a duplicate.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from audit.services import record
from config.errors import Conflict
from config.metrics import count_usage_ingested
from usage.contract import ParsedEvent, parse_events
from usage.services.quota import limited_meter_ids
from usage.sql import dialect

logger = logging.getLogger(__name__)

# deadlock_detected, serialization_failure: the transaction lost a race and did nothing.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
INGEST_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.05


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    users: dict[uuid.UUID, set[int]] = field(default_factory=dict)


def _dedupe_in_batch(events: list[ParsedEvent]) -> tuple[list[ParsedEvent], int]:
    """Keep the first of each (user, key); later copies are duplicates or a conflict."""
    first: dict[tuple[uuid.UUID, str], ParsedEvent] = {}
    unique: list[ParsedEvent] = []
    duplicates = 0
    for event in events:
        if event.idempotency_key is None:
            unique.append(event)
            continue
        seen = first.get((event.user_id, event.idempotency_key))
        if seen is None:
            first[(event.user_id, event.idempotency_key)] = event
            unique.append(event)
            continue
        if not event.same_content(seen.meter.id, seen.quantity, seen.slot_id, seen.occurred_at):
            _raise_conflict(event)
        duplicates += 1
    return unique, duplicates


def _raise_conflict(event: ParsedEvent):
    raise Conflict(
        "idempotency_conflict",
        f"The idempotency key {event.idempotency_key!r} was already used for a different event.",
    )


def _is_retryable(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def usage_events_ingest(
    *, caller, body: Any, actor=None, request=None, now: datetime | None = None
) -> IngestResult:
    """Validate (all or nothing) and store one event or a batch for ``caller``.

    Admins may file events for another user with ``user``. Raises ``ValidationError``
    (400, errors by ``events.<index>.<field>``), ``Forbidden`` (403) or ``Conflict``
    (409 ``idempotency_conflict``: nothing of the request is stored).
    """
    now = now or timezone.now()
    parsed = parse_events(body, caller=caller, now=now)
    unique, duplicates = _dedupe_in_batch(parsed)

    # A deadlock or serialization failure rolls the whole attempt back (events, audit rows,
    # queued quota checks), so running it again cannot count anything twice. Inside a
    # caller's transaction the failure is the caller's to handle: it was aborted too.
    attempts = 1 if connection.in_atomic_block else INGEST_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            result = _store_events(
                unique, duplicates, caller=caller, actor=actor, request=request, now=now
            )
            break
        except OperationalError as exc:
            if attempt == attempts or not _is_retryable(exc):
                raise
            logger.warning(
                "usage ingest retried after %s (attempt %d of %d)",
                exc.__cause__.__class__.__name__,
                attempt,
                attempts,
            )
            # Give the transaction that won time to finish its statement, or the retry
            # takes entries that transaction still has to reach and loses again.
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
    count_usage_ingested(accepted=result.accepted, duplicates=result.duplicates)
    return result


def _settle_taken_keys(keyed: list[ParsedEvent], pairs, stored: dict) -> None:
    """Keys of ``pairs`` are stored already: an event repeating the stored
    content is a duplicate, different content a conflict."""
    for event in keyed:
        pair = (event.user_id, event.idempotency_key)
        if pair in pairs and not event.same_content(*stored[pair]):
            _raise_conflict(event)


def _store_events(
    unique: list[ParsedEvent], duplicates: int, *, caller, actor, request, now: datetime
) -> IngestResult:
    """One transaction: insert, settle keys already taken, audit, queue checks."""
    sql = dialect()
    keyed = [e for e in unique if e.idempotency_key is not None]
    with transaction.atomic():
        inserted = sql.insert_events(unique, now)
        lost = {(e.user_id, e.idempotency_key) for e in keyed} - inserted
        if lost:
            _settle_taken_keys(keyed, lost, sql.stored_for_keys(lost))
        result = IngestResult(accepted=len(unique) - len(lost), duplicates=duplicates + len(lost))
        for event in unique:
            result.users.setdefault(event.user_id, set()).add(event.meter.id)
        for user_id in sorted((u for u in result.users if u != caller.pk), key=str):
            # Usage filed on someone else's behalf is an admin act worth a trace.
            record(
                action="usage.events.recorded",
                actor=actor or caller,
                target=("user", str(user_id)),
                request=request,
                metadata={"events": sum(1 for e in unique if e.user_id == user_id)},
            )
        if result.accepted:
            _queue_quota_checks(result.users, caller_id=caller.pk, events=unique)
    return result


def _queue_quota_checks(
    touched: dict[uuid.UUID, set[int]], *, caller_id, events: list[ParsedEvent]
) -> None:
    # usage.tasks imports usage.services (its tasks call them): importing it at the top of
    # this module would be circular.
    from usage.tasks import check_quota

    # The caller's limits came with the meters; only events filed for others need a query.
    caller_limited = {
        e.meter.id for e in events if e.meter.limit is not None or e.meter.caller_override
    }
    others = [u for u in touched if u != caller_id]
    limited = limited_meter_ids(others) if others else {}
    limited[caller_id] = caller_limited
    for user_id, meter_ids in touched.items():
        wanted = sorted(meter_ids & limited.get(user_id, set()))
        if wanted:
            # After commit, so the check sees this request's events and every earlier one.
            transaction.on_commit(
                lambda u=str(user_id), m=wanted: check_quota.delay(u, m), robust=True
            )
