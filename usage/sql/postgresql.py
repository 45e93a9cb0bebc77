# ruff: noqa: S608 - SQL text is built from table names and %s placeholders defined in this
# module; every value goes through query parameters.
"""Usage's SQL on PostgreSQL (production): each write job is one statement.

The same names as ``usage.sql.sqlite``; ``usage.sql.dialect()`` picks the module.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connection, transaction

from config.partitions import MonthlyPartitions
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

logger = logging.getLogger(__name__)

EVENTS = UsageEvent._meta.db_table
HOURLY = HourlyRollup._meta.db_table
DAILY = DailyRollup._meta.db_table
METERS = Meter._meta.db_table
KEYS = IdempotencyKey._meta.db_table

# --- snippets of the reads ------------------------------------------------------------------

# PostgreSQL adds and compares NUMERIC exactly.


def sum_of(column: str) -> str:
    return f"SUM({column})"


def max_of(column: str) -> str:
    return f"MAX({column})"


def trunc(unit: str, column: str) -> str:
    return f"date_trunc('{unit}', {column})"


def epoch(expression: str) -> str:
    """Seconds since 1970 as an integer: far cheaper to read back than a timestamp."""
    return f"CAST(EXTRACT(EPOCH FROM {expression}) AS bigint)"


def uuid_param(value: uuid.UUID) -> Any:
    return value


# --- ingestion ------------------------------------------------------------------------------

_INSERT_EVENTS = (
    "WITH rows AS (SELECT (r->>0)::uuid AS u, (r->>1)::bigint AS m, (r->>2)::uuid AS s, "
    "(r->>3)::numeric AS q, (r->>4)::timestamptz AS o, r->>5 AS k, (r->6)::jsonb AS md, n "
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS t(r, n)), "
    f"keys AS (INSERT INTO {KEYS} "
    "(user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, recorded_at) "
    "SELECT u, k, m, q, s, o, %s FROM rows WHERE k IS NOT NULL ORDER BY u, k "
    "ON CONFLICT (user_id, idempotency_key) DO NOTHING "
    "RETURNING user_id, idempotency_key), "
    f"ins AS (INSERT INTO {EVENTS} "
    "(user_id, meter_id, slot_id, quantity, occurred_at, received_at, idempotency_key, "
    "metadata) SELECT u, m, s, q, o, %s, k, md FROM rows WHERE k IS NULL OR EXISTS "
    "(SELECT 1 FROM keys WHERE keys.user_id = rows.u AND keys.idempotency_key = rows.k) "
    "ORDER BY n) "
    "SELECT user_id, idempotency_key FROM keys"
)


def insert_events(events: list[ParsedEvent], now: datetime) -> set[tuple[uuid.UUID, str]]:
    """One round trip for the batch; returns the (user, key) pairs actually inserted.

    The rows travel as one JSON parameter: encoding it is a single C call, where binding
    arrays of UUIDs, decimals and timestamps costs Python work per element.

    The keys go first into ``IdempotencyKey`` (one unpartitioned table, unique on (user,
    key)); only events whose key went in (or that have no key) go into the partitioned
    events table, whatever partition their ``occurred_at`` picks. Keys go in sorted by (user,
    key), whatever order the request gave. An insert that meets another transaction's
    uncommitted entry for the same key waits for it; two batches taking the same keys in
    opposite orders would each wait for the other (a deadlock). In one global order, the
    later batch only ever waits for the earlier one.
    """
    user_ids = {u: str(u) for u in {e.user_id for e in events}}
    rows = json.dumps(
        [
            [
                user_ids[e.user_id],
                e.meter.id,
                str(e.slot_id) if e.slot_id is not None else None,
                str(e.quantity),
                e.occurred_at.isoformat(),
                e.idempotency_key,
                e.metadata,
            ]
            for e in events
        ],
        separators=(",", ":"),
    )
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_EVENTS, [rows, now, now])
        return {(u, k) for u, k in cursor.fetchall()}


_STORED_FOR_KEYS = (
    f"SELECT t.user_id, t.idempotency_key, t.meter_id, t.quantity, t.slot_id, "
    f"t.occurred_at FROM {KEYS} t JOIN ("
    f"SELECT (c->>0)::uuid AS u, c->>1 AS k FROM json_array_elements(%s::json) AS c"
    f") AS c ON t.user_id = c.u AND t.idempotency_key = c.k"
)


def stored_for_keys(pairs: set[tuple[uuid.UUID, str]]) -> dict:
    """(user, key) → (meter_id, quantity, slot_id, occurred_at) of the event stored first."""
    if not pairs:
        return {}
    keys = json.dumps([[str(u), k] for u, k in pairs], separators=(",", ":"))
    with connection.cursor() as cursor:
        cursor.execute(_STORED_FOR_KEYS, [keys])
        return {(u, k): (m, q, s, o) for u, k, m, q, s, o in cursor.fetchall()}


# --- rollup ---------------------------------------------------------------------------------


def _upsert(table: str, buckets: str) -> str:
    """Add the rows of the CTE ``buckets`` to the rollup ``table``: one statement serves the
    hourly and the daily buckets. Rows go in key order (no deadlock between workers)."""
    return f"""INSERT INTO {table} AS r
        (user_id, meter_id, slot_id, bucket_start, value, event_count, updated_at)
    SELECT user_id, meter_id, slot_id, bucket_start, value, n, %(now)s FROM {buckets}
    ORDER BY user_id, bucket_start, meter_id, slot_id
    ON CONFLICT (user_id, bucket_start, meter_id, slot_id) DO UPDATE SET
        value = CASE WHEN EXISTS (SELECT 1 FROM {METERS} WHERE id = EXCLUDED.meter_id
                                  AND aggregation = 'max')
                     THEN GREATEST(r.value, EXCLUDED.value) ELSE r.value + EXCLUDED.value END,
        event_count = r.event_count + EXCLUDED.event_count,
        updated_at = EXCLUDED.updated_at
    RETURNING 1"""


_ROLLUP = f"""
WITH claimed AS (
    SELECT id, occurred_at FROM {EVENTS} WHERE rolled_at IS NULL
    ORDER BY user_id, occurred_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE {EVENTS} e SET rolled_at = %(now)s FROM claimed c
    WHERE e.id = c.id AND e.occurred_at = c.occurred_at
    RETURNING e.user_id, e.meter_id, COALESCE(e.slot_id, %(no_slot)s) AS slot_id,
              e.occurred_at, e.quantity
), hourly AS (
    SELECT mk.user_id, mk.meter_id, mk.slot_id,
           date_trunc('hour', mk.occurred_at) AS bucket_start, mt.aggregation AS agg,
           CASE mt.aggregation WHEN 'count' THEN count(*)::numeric
                               WHEN 'max' THEN max(mk.quantity)
                               ELSE sum(mk.quantity) END AS value,
           count(*) AS n
    FROM marked mk JOIN {METERS} mt ON mt.id = mk.meter_id
    GROUP BY 1, 2, 3, 4, 5
), up_hourly AS (
    {_upsert(HOURLY, "hourly")}
), daily AS (
    SELECT user_id, meter_id, slot_id, date_trunc('day', bucket_start) AS bucket_start,
           CASE agg WHEN 'max' THEN max(value) ELSE sum(value) END AS value, sum(n) AS n
    FROM hourly GROUP BY 1, 2, 3, 4, agg
), up_daily AS (
    {_upsert(DAILY, "daily")}
)
SELECT user_id, meter_id, count(*) FROM marked GROUP BY 1, 2
"""


def rollup_batch(limit: int, now: datetime) -> list[tuple]:
    """Claim up to ``limit`` un-rolled events (``SKIP LOCKED``), mark them and add them to
    their hourly and daily buckets, in one statement; (user_id, meter_id, events) rolled."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_ROLLUP, {"limit": limit, "now": now, "no_slot": NO_SLOT})
        return cursor.fetchall()


# --- retention ------------------------------------------------------------------------------

_PURGE = f"""
WITH doomed AS (
    SELECT id, occurred_at FROM {EVENTS} WHERE occurred_at < %(cutoff)s AND rolled_at IS NOT NULL
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
DELETE FROM {EVENTS} e USING doomed d WHERE e.id = d.id AND e.occurred_at = d.occurred_at
"""


def purge_batch(cutoff: datetime, limit: int, now: datetime) -> int:
    """Delete up to ``limit`` rolled events older than ``cutoff``; the number deleted. Their
    keys stay in ``IdempotencyKey``. Runs in the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(_PURGE, {"cutoff": cutoff, "limit": limit})
        return cursor.rowcount


# --- partitions -----------------------------------------------------------------------------
# The events table is partitioned by range of occurred_at, one partition per UTC calendar
# month, named usage_usageevent_pYYYYMM, plus a default partition that catches rows of a
# month with no partition (none in normal operation: ingestion accepts occurred_at from
# USAGE_LATE_ARRIVAL_DAYS ago to 5 minutes ahead, and partitions exist months ahead).

PARTITIONS = MonthlyPartitions(EVENTS)
DEFAULT_PARTITION = PARTITIONS.default
partition_name = PARTITIONS.name
partitions = PARTITIONS.all


def ensure_partitions(now: datetime, months_ahead: int, months_back: int = 0) -> list[str]:
    """Create the months from ``months_back`` before the month of ``now`` to ``months_ahead``
    after it (config.partitions); a month whose rows sit in the default partition stays there,
    counted (see docs/operations.md)."""
    return PARTITIONS.ensure(now, months_ahead, months_back)


def drop_expired_partitions(cutoff: datetime) -> int:
    """Drop every monthly partition that ends at or before ``cutoff`` and holds no un-rolled
    event; the number of events dropped with them. A partition with un-rolled events stays
    (its rolled rows go by ``purge_batch``, the rest once rolled).

    No lock is held between the check and the drop, because nothing can invalidate the
    check: an event only ever goes from un-rolled to rolled, and no new event enters a month
    that old (ingestion refuses ``occurred_at`` beyond USAGE_LATE_ARRIVAL_DAYS). The
    ``DROP TABLE`` itself needs the parent table's lock for an instant; it waits at most
    ``config.partitions.DROP_LOCK_TIMEOUT`` for it, so ingestion never queues behind it for longer.
    """
    dropped = 0
    for name, _start, end in partitions():
        if end > cutoff:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT 1 FROM "{name}" WHERE rolled_at IS NULL LIMIT 1')
            if cursor.fetchone() is not None:
                continue
            cursor.execute(f'SELECT count(*) FROM "{name}"')
            rows = int(cursor.fetchone()[0])
        try:
            with transaction.atomic():
                PARTITIONS.drop(name)
        except OperationalError as exc:  # e.g. lock_not_available: the next run drops it
            logger.warning("usage events partition %s not dropped: %s", name, exc)
            continue
        dropped += rows
    return dropped
