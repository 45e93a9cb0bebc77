# ruff: noqa: S608 - SQL text is built from table names and %s placeholders defined in this
# module; every value goes through query parameters.
"""Usage's SQL on PostgreSQL (production): each write job is one statement.

The same names as ``usage.sql.sqlite``; ``usage.sql.dialect()`` picks the module.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

from usage.models import (
    NO_SLOT,
    DailyRollup,
    HourlyRollup,
    Meter,
    RetiredIdempotencyKey,
    UsageEvent,
)

if TYPE_CHECKING:  # usage.contract imports this package (quantity_exceeds_storage)
    from usage.contract.validation import ParsedEvent

EVENTS = UsageEvent._meta.db_table
HOURLY = HourlyRollup._meta.db_table
DAILY = DailyRollup._meta.db_table
METERS = Meter._meta.db_table
RETIRED = RetiredIdempotencyKey._meta.db_table

# --- snippets of the reads ------------------------------------------------------------------

# PostgreSQL adds NUMERIC exactly.
SUM = "SUM"


def trunc(unit: str, column: str) -> str:
    return f"date_trunc('{unit}', {column})"


def epoch(expression: str) -> str:
    """Seconds since 1970 as an integer: far cheaper to read back than a timestamp."""
    return f"CAST(EXTRACT(EPOCH FROM {expression}) AS bigint)"


def uuid_param(value: uuid.UUID) -> Any:
    return value


def quantity_exceeds_storage(value: Decimal) -> bool:
    """NUMERIC(38, 6) holds every valid quantity."""
    return False


# --- ingestion ------------------------------------------------------------------------------

_INSERT_EVENTS = (
    "WITH rows AS (SELECT (r->>0)::uuid AS u, (r->>1)::bigint AS m, (r->>2)::uuid AS s, "
    "(r->>3)::numeric AS q, (r->>4)::timestamptz AS o, r->>5 AS k, (r->6)::jsonb AS md, n "
    "FROM json_array_elements(%s::json) WITH ORDINALITY AS t(r, n)), "
    f"ins AS (INSERT INTO {EVENTS} "
    "(user_id, meter_id, slot_id, quantity, occurred_at, received_at, idempotency_key, "
    "metadata) SELECT u, m, s, q, o, %s, k, md FROM rows ORDER BY u, k, n "
    "ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "
    "RETURNING user_id, idempotency_key) "
    "SELECT user_id, idempotency_key FROM ins WHERE idempotency_key IS NOT NULL"
)


def insert_events(events: list[ParsedEvent], now: datetime) -> set[tuple[uuid.UUID, str]]:
    """One round trip for the batch; returns the (user, key) pairs actually inserted.

    The rows travel as one JSON parameter: encoding it is a single C call, where binding
    arrays of UUIDs, decimals and timestamps costs Python work per element.

    Rows go in sorted by (user, key), whatever order the request gave. An insert that meets
    another transaction's uncommitted entry for the same key waits for it; two batches
    taking the same keys in opposite orders would each wait for the other (a deadlock).
    In one global order, the later batch only ever waits for the earlier one.
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
        cursor.execute(_INSERT_EVENTS, [rows, now])
        return {(u, k) for u, k in cursor.fetchall()}


def stored_for_keys(model, pairs: set[tuple[uuid.UUID, str]]) -> dict:
    """(user, key) → (meter_id, quantity, slot_id, occurred_at) of what ``model`` stores."""
    if not pairs:
        return {}
    sql = (
        f"SELECT t.user_id, t.idempotency_key, t.meter_id, t.quantity, t.slot_id, "
        f"t.occurred_at FROM {model._meta.db_table} t JOIN ("
        f"SELECT (c->>0)::uuid AS u, c->>1 AS k FROM json_array_elements(%s::json) AS c"
        f") AS c ON t.user_id = c.u AND t.idempotency_key = c.k "
        f"WHERE t.idempotency_key IS NOT NULL"
    )
    keys = json.dumps([[str(u), k] for u, k in pairs], separators=(",", ":"))
    with connection.cursor() as cursor:
        cursor.execute(sql, [keys])
        return {(u, k): (m, q, s, o) for u, k, m, q, s, o in cursor.fetchall()}


# --- rollup ---------------------------------------------------------------------------------

_ROLLUP = f"""
WITH claimed AS (
    SELECT id FROM {EVENTS} WHERE rolled_at IS NULL ORDER BY user_id, occurred_at
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE {EVENTS} e SET rolled_at = %(now)s FROM claimed c WHERE e.id = c.id
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
    INSERT INTO {HOURLY} AS r
        (user_id, meter_id, slot_id, bucket_start, value, event_count, updated_at)
    SELECT user_id, meter_id, slot_id, bucket_start, value, n, %(now)s FROM hourly
    ORDER BY user_id, bucket_start, meter_id, slot_id
    ON CONFLICT (user_id, bucket_start, meter_id, slot_id) DO UPDATE SET
        value = CASE WHEN EXISTS (SELECT 1 FROM {METERS} WHERE id = EXCLUDED.meter_id
                                  AND aggregation = 'max')
                     THEN GREATEST(r.value, EXCLUDED.value) ELSE r.value + EXCLUDED.value END,
        event_count = r.event_count + EXCLUDED.event_count,
        updated_at = EXCLUDED.updated_at
    RETURNING 1
), daily AS (
    SELECT user_id, meter_id, slot_id, date_trunc('day', bucket_start) AS bucket_start,
           CASE agg WHEN 'max' THEN max(value) ELSE sum(value) END AS value, sum(n) AS n
    FROM hourly GROUP BY 1, 2, 3, 4, agg
), up_daily AS (
    INSERT INTO {DAILY} AS r
        (user_id, meter_id, slot_id, bucket_start, value, event_count, updated_at)
    SELECT user_id, meter_id, slot_id, bucket_start, value, n, %(now)s FROM daily
    ORDER BY user_id, bucket_start, meter_id, slot_id
    ON CONFLICT (user_id, bucket_start, meter_id, slot_id) DO UPDATE SET
        value = CASE WHEN EXISTS (SELECT 1 FROM {METERS} WHERE id = EXCLUDED.meter_id
                                  AND aggregation = 'max')
                     THEN GREATEST(r.value, EXCLUDED.value) ELSE r.value + EXCLUDED.value END,
        event_count = r.event_count + EXCLUDED.event_count,
        updated_at = EXCLUDED.updated_at
    RETURNING 1
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
    SELECT id FROM {EVENTS} WHERE occurred_at < %(cutoff)s AND rolled_at IS NOT NULL
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM {EVENTS} e USING doomed d WHERE e.id = d.id
    RETURNING e.user_id, e.idempotency_key, e.meter_id, e.quantity, e.slot_id, e.occurred_at
), kept AS (
    INSERT INTO {RETIRED}
        (user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, retired_at)
    SELECT user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, %(now)s
    FROM gone WHERE idempotency_key IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM kept)
"""


def purge_batch(cutoff: datetime, limit: int, now: datetime) -> int:
    """Delete up to ``limit`` rolled events older than ``cutoff``, retiring their keys in the
    same statement; the number deleted. Runs in the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(_PURGE, {"cutoff": cutoff, "limit": limit, "now": now})
        return int(cursor.fetchone()[0])
