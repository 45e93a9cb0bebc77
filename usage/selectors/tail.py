# ruff: noqa: S608 - SQL text is built from table names, column expressions and %s
# placeholders defined in usage; every value goes through query parameters.
"""The one query every exact read of usage is built on: rollups plus the un-rolled tail.

Both halves are read in ONE statement (``UNION ALL``), so they come from the same snapshot.
The rollup marks events and adds them to buckets in one transaction, so in any snapshot an
event is in exactly one half: un-rolled (read raw, ``rolled_at IS NULL``) or rolled (inside
a bucket). Each half is grouped by the same keys, so a key has up to two rows, which the
caller merges with ``Acc`` (``is_raw`` tells a bucket sum from raw quantities).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from usage.models import NO_SLOT, DailyRollup, HourlyRollup, UsageEvent
from usage.selectors.common import p_dt, p_uuid
from usage.sql import dialect

EVENTS = UsageEvent._meta.db_table
ROLLUPS = {"hour": HourlyRollup._meta.db_table, "day": DailyRollup._meta.db_table}
KEYS = ("bucket", "epoch", "user", "meter", "slot")


def _half(
    *,
    raw: bool,
    keys: Sequence[str],
    granularity: str,
    start: datetime | None,
    end: datetime | None,
    user,
    meter_ids: Iterable[int] | None,
    slot_id,
) -> tuple[str, list]:
    """One half: the rollup buckets (``raw=False``) or the raw events (``raw=True``)."""
    db = dialect()
    if raw:
        alias, source, time, value, events = "e", EVENTS, "e.occurred_at", "e.quantity", "COUNT(*)"
        bucket = db.trunc(granularity, time)
        slot, slot_params = "COALESCE(e.slot_id, %s)", [p_uuid(NO_SLOT)]
    else:
        alias, source, time, value = "r", ROLLUPS[granularity], "r.bucket_start", "r.value"
        events, bucket, slot, slot_params = "SUM(r.event_count)", time, "r.slot_id", []
    expressions = {
        "bucket": bucket,
        "epoch": db.epoch(bucket),
        "user": f"{alias}.user_id",
        "meter": f"{alias}.meter_id",
        "slot": slot,
    }
    select = [expressions[k] for k in keys]
    select += [db.sum_of(value), db.max_of(value), events, "1" if raw else "0"]
    params = slot_params if "slot" in keys else []

    where = []
    for condition, parameter in (
        (f"{time} >= %s", start),
        (f"{time} < %s", end),
        (f"{alias}.user_id = %s", user),
        (f"{alias}.slot_id = %s", slot_id),
    ):
        if parameter is not None:
            where.append(condition)
            params.append(p_dt(parameter) if isinstance(parameter, datetime) else p_uuid(parameter))
    if meter_ids is not None:
        meter_ids = list(meter_ids)
        where.append(f"{alias}.meter_id IN ({', '.join(['%s'] * len(meter_ids))})")
        params += meter_ids
        if not meter_ids:
            where[-1] = "1 = 0"  # no meter asked for: no row
    if raw and granularity in ROLLUPS:
        where.append("e.rolled_at IS NULL")  # the rolled ones are in the other half

    groups = ", ".join(str(n) for n in range(1, len(keys) + 1))
    sql = f"SELECT {', '.join(select)} FROM {source} {alias}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + f" GROUP BY {groups}", params


def rollups_and_tail(
    *,
    keys: Sequence[str],
    granularity: str,
    start: datetime | None = None,
    end: datetime | None = None,
    user=None,
    meter_ids: Iterable[int] | None = None,
    slot_id=None,
    ordered: bool = False,
) -> tuple[str, list]:
    """SQL and parameters for rows of ``(*keys, sum, max, events, is_raw)``.

    ``keys`` group the rows, from ``bucket`` (the bucket's start), ``epoch`` (the same as
    epoch seconds, cheaper to read), ``user``, ``meter`` and ``slot`` (events without a slot
    under ``NO_SLOT``). ``granularity`` ``hour`` or ``day`` reads those rollups plus the
    un-rolled tail; ``minute`` (no minute rollups) reads every raw event, rolled or not.
    ``start``/``end`` bound bucket starts and ``occurred_at`` (none: all time); ``user``,
    ``meter_ids`` and ``slot_id`` filter (none: everyone, every meter, every slot).
    ``ordered`` sorts by the keys, so the two rows of a key arrive next to each other.
    ``sum`` and ``max`` are exact: decimals or plain decimal text.
    """
    unknown = set(keys) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    filters = {
        "keys": keys,
        "granularity": granularity,
        "start": start,
        "end": end,
        "user": getattr(user, "pk", user),
        "meter_ids": None if meter_ids is None else list(meter_ids),
        "slot_id": slot_id,
    }
    halves = [_half(raw=True, **filters)]
    if granularity in ROLLUPS:
        halves.insert(0, _half(raw=False, **filters))
    sql = " UNION ALL ".join(half for half, _ in halves)
    if ordered:
        sql += " ORDER BY " + ", ".join(str(n) for n in range(1, len(keys) + 1))
    return sql, [p for _, params in halves for p in params]


def fetch_rollups_and_tail(**kwargs: Any) -> list[tuple]:
    """The rows of ``rollups_and_tail(**kwargs)``, all at once (small results)."""
    sql, params = rollups_and_tail(**kwargs)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
