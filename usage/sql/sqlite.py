"""Usage's SQL on SQLite (the development default): the write jobs through the ORM.

The same names as ``usage.sql.postgresql``; ``usage.sql.dialect()`` picks the module. SQLite
takes the write lock at ``BEGIN`` (Django opens write transactions ``IMMEDIATE``), so the
check-then-write steps here are safe without PostgreSQL's ``SKIP LOCKED`` and ``ON
CONFLICT``: writers take turns.

Exact decimals: the decimal columns of usage keep every digit here too, as canonical text
(``usage.fields.ExactDecimalField``), which SQLite's own SUM would add as floats.
``register_functions`` (connected to ``connection_created`` by ``UsageConfig.ready``) adds
``roster_exact_sum``, which adds the stored values as Decimals, and ``roster_plain``, which
writes a stored value (e.g. what MAX picked) as plain decimal text; the reads use them
through ``sum_of`` and ``max_of``. Both answer plain decimal text.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction

from usage.fields import stored_decimal
from usage.models import (
    NO_SLOT,
    DailyRollup,
    HourlyRollup,
    IdempotencyKey,
    Meter,
    UsageEvent,
)

if TYPE_CHECKING:  # usage.contract.validation imports usage.services, which import this
    from usage.contract.validation import ParsedEvent

# --- exact aggregates -----------------------------------------------------------------------

SUM = "roster_exact_sum"
PLAIN = "roster_plain"
# Room for any sum of NUMERIC(38, 6) values: the default 28 digits would round big sums.
_EXACT = Context(prec=60)


class _ExactSum:
    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value) -> None:
        if value is not None:
            number = stored_decimal(value)
            self.total = number if self.total is None else _EXACT.add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else format(self.total, "f")


def _plain(value) -> str | None:
    return None if value is None else format(stored_decimal(value), "f")


def register_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SUM, 1, _ExactSum)
        connection.connection.create_function(PLAIN, 1, _plain, deterministic=True)


# --- snippets of the reads ------------------------------------------------------------------

# Written with %% because every statement of the reads runs with parameters: Django's SQLite
# backend turns %% back into % then, and the query logger (DEBUG, query-count assertions)
# formats ``sql % params``, which a bare % would break.
_TRUNC = {
    "minute": "%%Y-%%m-%%d %%H:%%M:00",
    "hour": "%%Y-%%m-%%d %%H:00:00",
    "day": "%%Y-%%m-%%d 00:00:00",
}


def sum_of(column: str) -> str:
    return f"{SUM}({column})"


def max_of(column: str) -> str:
    # Canonical text sorts like the numbers, so SQLite's MAX picks the largest value.
    return f"{PLAIN}(MAX({column}))"


def trunc(unit: str, column: str) -> str:
    return f"strftime('{_TRUNC[unit]}', {column})"


def epoch(expression: str) -> str:
    """Seconds since 1970 as an integer: far cheaper to read back than a timestamp."""
    return f"CAST(strftime('%%s', {expression}) AS INTEGER)"


def uuid_param(value: uuid.UUID) -> Any:
    return value.hex


# --- ingestion ------------------------------------------------------------------------------


def insert_events(events: list[ParsedEvent], now: datetime) -> set[tuple[uuid.UUID, str]]:
    """Insert the events whose (user, key) is not stored yet, and their keys; the (user,
    key) pairs inserted."""
    keyed = {(e.user_id, e.idempotency_key) for e in events if e.idempotency_key is not None}
    existing = set(stored_for_keys(keyed))
    fresh = [e for e in events if (e.user_id, e.idempotency_key) not in existing]
    IdempotencyKey.objects.bulk_create(
        [
            IdempotencyKey(
                user_id=e.user_id,
                idempotency_key=e.idempotency_key,
                meter_id=e.meter.id,
                quantity=e.quantity,
                slot_id=e.slot_id,
                occurred_at=e.occurred_at,
                recorded_at=now,
            )
            for e in fresh
            if e.idempotency_key is not None
        ]
    )
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                user_id=e.user_id,
                meter_id=e.meter.id,
                slot_id=e.slot_id,
                quantity=e.quantity,
                occurred_at=e.occurred_at,
                received_at=now,
                idempotency_key=e.idempotency_key,
                metadata=e.metadata,
            )
            for e in fresh
        ]
    )
    return {(e.user_id, e.idempotency_key) for e in fresh if e.idempotency_key is not None}


def stored_for_keys(pairs: set[tuple[uuid.UUID, str]]) -> dict:
    """(user, key) → (meter_id, quantity, slot_id, occurred_at) of the event stored first."""
    by_user: dict[uuid.UUID, list[str]] = defaultdict(list)
    for user_id, key in pairs:
        by_user[user_id].append(key)
    out = {}
    for user_id, keys in by_user.items():
        # SQLite caps the parameters of one statement.
        for start in range(0, len(keys), 500):
            rows = IdempotencyKey.objects.filter(
                user_id=user_id, idempotency_key__in=keys[start : start + 500]
            ).values_list("idempotency_key", "meter_id", "quantity", "slot_id", "occurred_at")
            for key, *content in rows:
                out[(user_id, key)] = tuple(content)
    return out


# --- rollup ---------------------------------------------------------------------------------


def _combine(aggregation: str, old: Decimal, new: Decimal) -> Decimal:
    return max(old, new) if aggregation == Meter.Aggregation.MAX else _EXACT.add(old, new)


def _buckets(rows: list[tuple], aggregations: dict[int, str]) -> tuple[dict, dict, dict]:
    """Hourly and daily (value, events) per (user, meter, slot, bucket start), and the
    number of events per (user, meter)."""
    hourly: dict[tuple, list] = {}
    touched: dict[tuple, int] = defaultdict(int)
    for _id, user_id, meter_id, slot_id, occurred_at, quantity in rows:
        touched[(user_id, meter_id)] += 1
        agg = aggregations[meter_id]
        amount = Decimal(1) if agg == Meter.Aggregation.COUNT else quantity
        bucket = occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (user_id, meter_id, slot_id or NO_SLOT, bucket)
        acc = hourly.setdefault(key, [None, 0])
        acc[0] = amount if acc[0] is None else _combine(agg, acc[0], amount)
        acc[1] += 1
    daily: dict[tuple, list] = {}
    for (user_id, meter_id, slot_id, bucket), (value, count) in hourly.items():
        key = (user_id, meter_id, slot_id, bucket.replace(hour=0))
        acc = daily.setdefault(key, [None, 0])
        agg = aggregations[meter_id]
        acc[0] = value if acc[0] is None else _combine(agg, acc[0], value)
        acc[1] += count
    return hourly, daily, touched


def rollup_batch(limit: int, now: datetime) -> list[tuple]:
    """Take up to ``limit`` un-rolled events, add them to their hourly and daily buckets and
    mark them, in one transaction; (user_id, meter_id, events) rolled."""
    with transaction.atomic():
        rows = list(
            UsageEvent.objects.filter(rolled_at__isnull=True)
            .order_by("id")
            .values_list("id", "user_id", "meter_id", "slot_id", "occurred_at", "quantity")[:limit]
        )
        if not rows:
            return []
        aggregations = dict(Meter.objects.values_list("id", "aggregation"))
        hourly, daily, touched = _buckets(rows, aggregations)
        for model, buckets in ((HourlyRollup, hourly), (DailyRollup, daily)):
            for (user_id, meter_id, slot_id, bucket), (value, count) in sorted(
                buckets.items(), key=lambda item: (str(item[0][0]), item[0][3], item[0][1])
            ):
                row, created = model.objects.get_or_create(
                    user_id=user_id,
                    meter_id=meter_id,
                    slot_id=slot_id,
                    bucket_start=bucket,
                    defaults={"value": value, "event_count": count, "updated_at": now},
                )
                if not created:
                    row.value = _combine(aggregations[meter_id], row.value, value)
                    row.event_count += count
                    row.updated_at = now
                    row.save(update_fields=["value", "event_count", "updated_at"])
        UsageEvent.objects.filter(id__in=[r[0] for r in rows]).update(rolled_at=now)
        return [(u, m, n) for (u, m), n in touched.items()]


# --- retention ------------------------------------------------------------------------------


def purge_batch(cutoff: datetime, limit: int, now: datetime) -> int:
    """Delete up to ``limit`` rolled events older than ``cutoff``; the number deleted. Their
    keys stay in ``IdempotencyKey``. Runs in the caller's transaction."""
    doomed = list(
        UsageEvent.objects.filter(occurred_at__lt=cutoff, rolled_at__isnull=False)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    return UsageEvent.objects.filter(id__in=doomed).delete()[0]


# --- partitions: SQLite keeps one table -----------------------------------------------------


def ensure_partitions(now: datetime, months_ahead: int, months_back: int = 0) -> list[str]:
    return []


def drop_expired_partitions(cutoff: datetime) -> int:
    return 0
