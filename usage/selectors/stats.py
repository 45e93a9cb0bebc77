# ruff: noqa: S608 - SQL text is built from table names, column expressions and %s
# placeholders defined in usage; every value goes through query parameters.
"""Exact stats over a period: a user's (or everyone's) totals and series, the admin view.

Exactness: every query that adds rollups to raw events does it in ONE SQL statement
(``UNION ALL``), so both halves come from the same snapshot. The rollup marks events and
adds them to buckets in one transaction, so in any snapshot an event is in exactly one
half: un-rolled (read raw, ``rolled_at IS NULL``) or rolled (inside a bucket).

Windows are whole buckets: a period's ``start`` is rounded down to its granularity and
``end`` is the end of the current bucket, so finished buckets are read from rollups only
and the series adds up to the totals without splitting a bucket.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from usage.models import NO_SLOT, DailyRollup, HourlyRollup, Meter, UsageEvent
from usage.selectors.common import (
    ZERO,
    Acc,
    as_uuid,
    filters,
    meters_by_id,
    p_dt,
    p_uuid,
    plain,
)
from usage.sql import dialect

PERIODS: dict[str, tuple[timedelta, str]] = {
    "1h": (timedelta(hours=1), "minute"),
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "hour"),
    "30d": (timedelta(days=30), "day"),
}
GRANULARITY_STEP = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
EVENTS = UsageEvent._meta.db_table
HOURLY = HourlyRollup._meta.db_table
DAILY = DailyRollup._meta.db_table


def floor_to(value: datetime, granularity: str) -> datetime:
    value = value.astimezone(UTC)
    if granularity == "minute":
        return value.replace(second=0, microsecond=0)
    if granularity == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    period: str
    granularity: str
    start: datetime
    end: datetime

    def bucket_starts(self) -> list[datetime]:
        step = GRANULARITY_STEP[self.granularity]
        out, at = [], self.start
        while at < self.end:
            out.append(at)
            at += step
        return out


def period_window(period: str, *, now: datetime | None = None) -> Window:
    """Whole buckets covering at least ``period`` back from now, up to the current bucket's end."""
    span, granularity = PERIODS[period]
    now = now or timezone.now()
    end = floor_to(now, granularity) + GRANULARITY_STEP[granularity]
    start = floor_to(now - span, granularity)
    return Window(period=period, granularity=granularity, start=start, end=end)


def _bucketed_rows(
    *, window: Window, user=None, meter_id=None, slot_id=None
) -> list[tuple[int, int, Any, Any, Any, bool]]:
    """(bucket start as epoch seconds, meter_id, sum, max, events, is_raw) per non-empty bucket."""
    db = dialect()
    start, end = p_dt(window.start), p_dt(window.end)
    if window.granularity == "minute":
        # No minute rollups: the last hour is read raw (rolled or not), which is exact.
        where, params = filters(
            table_alias="e", user=user, meter_id=meter_id, slot_id=slot_id, rollup=True
        )
        sql = (
            f"SELECT {db.epoch(db.trunc('minute', 'e.occurred_at'))} AS b, e.meter_id, "
            f"{db.SUM}(e.quantity), MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            + "".join(f" AND {w}" for w in where)
            + " GROUP BY 1, 2"
        )
        all_params = [start, end, *params]
    else:
        table = HOURLY if window.granularity == "hour" else DAILY
        r_where, r_params = filters(
            table_alias="r", user=user, meter_id=meter_id, slot_id=slot_id, rollup=True
        )
        e_where, e_params = filters(
            table_alias="e", user=user, meter_id=meter_id, slot_id=slot_id, rollup=False
        )
        sql = (
            f"SELECT {db.epoch('r.bucket_start')} AS b, r.meter_id, {db.SUM}(r.value), "
            f"MAX(r.value), SUM(r.event_count), 0 FROM {table} r "
            f"WHERE r.bucket_start >= %s AND r.bucket_start < %s"
            + "".join(f" AND {w}" for w in r_where)
            + " GROUP BY 1, 2 UNION ALL "
            f"SELECT {db.epoch(db.trunc(window.granularity, 'e.occurred_at'))} AS b, "
            f"e.meter_id, {db.SUM}(e.quantity), MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            + "".join(f" AND {w}" for w in e_where)
            + " GROUP BY 1, 2"
        )
        all_params = [start, end, *r_params, start, end, *e_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        rows = cursor.fetchall()
    return [(int(b), m, s, x, n, bool(raw)) for b, m, s, x, n, raw in rows]


def usage_stats(
    *,
    user=None,
    period: str,
    meter: Meter | None = None,
    slot_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Exact totals and a dense series for the period (``user=None``: everyone).

    ``series`` has one point per bucket per meter. For ``sum`` and ``count`` meters the
    points add up to the total exactly (all are Decimals); for ``max`` meters the total is
    the largest point.
    """
    window = period_window(period, now=now)
    meters = meters_by_id()
    rows = _bucketed_rows(
        window=window, user=user, meter_id=meter.id if meter else None, slot_id=slot_id
    )
    buckets: dict[tuple[int, int], Acc] = {}
    totals: dict[int, Acc] = {}
    for bucket, meter_id, total, biggest, count, raw in rows:
        aggregation = meters[meter_id].aggregation
        acc = buckets.setdefault((bucket, meter_id), Acc(aggregation))
        acc.add(total, biggest, count, raw=raw)
        totals.setdefault(meter_id, Acc(aggregation)).add(total, biggest, count, raw=raw)

    if meter is not None:
        shown = [meter]
    else:
        shown = sorted(
            (m for m in meters.values() if m.is_active or m.id in totals), key=lambda m: m.key
        )
    series = []
    for bucket in window.bucket_starts():
        epoch = int(bucket.timestamp())
        for m in shown:
            acc = buckets.get((epoch, m.id))
            series.append({"start": bucket, "meter": m.key, "value": acc.result if acc else ZERO})
    return {
        "period": period,
        "start": window.start,
        "end": window.end,
        "granularity": window.granularity,
        "totals": {m.key: totals[m.id].result if m.id in totals else ZERO for m in shown},
        "series": series,
    }


def usage_totals(*, user=None, period: str) -> dict[str, Decimal]:
    """Exact totals per meter key for ``1h``/``24h``/``7d``/``30d`` (``user=None``: everyone)."""
    return usage_stats(user=user, period=period)["totals"]


def _grouped_rows(*, window: Window, user=None) -> list[tuple]:
    """(user_id, meter_id, slot_id, sum, max, events, is_raw) over the window."""
    db = dialect()
    start, end = p_dt(window.start), p_dt(window.end)
    no_slot = p_uuid(NO_SLOT)
    if window.granularity == "minute":
        where, params = filters(
            table_alias="e", user=user, meter_id=None, slot_id=None, rollup=True
        )
        sql = (
            f"SELECT e.user_id, e.meter_id, COALESCE(e.slot_id, %s), {db.SUM}(e.quantity), "
            f"MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            + "".join(f" AND {w}" for w in where)
            + " GROUP BY 1, 2, 3"
        )
        all_params = [no_slot, start, end, *params]
    else:
        table = HOURLY if window.granularity == "hour" else DAILY
        r_where, r_params = filters(
            table_alias="r", user=user, meter_id=None, slot_id=None, rollup=True
        )
        e_where, e_params = filters(
            table_alias="e", user=user, meter_id=None, slot_id=None, rollup=False
        )
        sql = (
            f"SELECT r.user_id, r.meter_id, r.slot_id, {db.SUM}(r.value), MAX(r.value), "
            f"SUM(r.event_count), 0 FROM {table} r "
            f"WHERE r.bucket_start >= %s AND r.bucket_start < %s"
            + "".join(f" AND {w}" for w in r_where)
            + " GROUP BY 1, 2, 3 UNION ALL "
            f"SELECT e.user_id, e.meter_id, COALESCE(e.slot_id, %s), {db.SUM}(e.quantity), "
            f"MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            + "".join(f" AND {w}" for w in e_where)
            + " GROUP BY 1, 2, 3"
        )
        all_params = [start, end, *r_params, no_slot, start, end, *e_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        return cursor.fetchall()


def _top_users(
    per_user: dict[int, dict[uuid.UUID, Acc]], shown: list[Meter], top: int
) -> dict[str, list[dict]]:
    """The ``top`` users of each shown meter, largest first, with their emails."""
    ranked_ids: set[uuid.UUID] = set()
    ranked: dict[str, list[tuple[uuid.UUID, Decimal]]] = {}
    for m in shown:
        entries = sorted(
            ((uid, acc.value) for uid, acc in per_user.get(m.id, {}).items()),
            key=lambda item: (-item[1], str(item[0])),
        )[:top]
        ranked[m.key] = entries
        ranked_ids.update(uid for uid, _ in entries)
    emails = dict(get_user_model().objects.filter(pk__in=ranked_ids).values_list("pk", "email"))
    return {
        key: [
            {"user": str(uid), "email": emails.get(uid, ""), "value": plain(value)}
            for uid, value in entries
        ]
        for key, entries in ranked.items()
    }


def usage_system_stats(*, period: str, now: datetime | None = None, top: int = 10) -> dict:
    """Everyone's usage: totals, active users and slots, top users per meter."""
    window = period_window(period, now=now)
    meters = meters_by_id()
    totals: dict[int, Acc] = {}
    per_user: dict[int, dict[uuid.UUID, Acc]] = defaultdict(dict)
    users, slots = set(), set()
    for user_id, meter_id, slot_id, total, biggest, count, raw in _grouped_rows(window=window):
        aggregation = meters[meter_id].aggregation
        user_id, slot_id = as_uuid(user_id), as_uuid(slot_id)
        totals.setdefault(meter_id, Acc(aggregation)).add(total, biggest, count, raw=bool(raw))
        per_user[meter_id].setdefault(user_id, Acc(aggregation)).add(
            total, biggest, count, raw=bool(raw)
        )
        if count:
            users.add(user_id)
            if slot_id != NO_SLOT:
                slots.add(slot_id)
    shown = sorted(
        (m for m in meters.values() if m.is_active or m.id in totals), key=lambda m: m.key
    )
    return {
        "period": period,
        "start": window.start,
        "end": window.end,
        "totals": {m.key: totals[m.id].result if m.id in totals else ZERO for m in shown},
        "active_users": len(users),
        "active_slots": len(slots),
        "top_users": _top_users(per_user, shown, top),
    }
