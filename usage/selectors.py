# ruff: noqa: S608 - SQL text is built from table names, column expressions and %s
# placeholders defined in this module; every value goes through query parameters.
"""Read side of usage: exact stats, quota state, exports, backlog.

Exactness: every query that adds rollups to raw events does it in ONE SQL statement
(``UNION ALL``), so both halves come from the same snapshot. The rollup marks events and
adds them to buckets in one transaction, so in any snapshot an event is in exactly one
half: un-rolled (read raw, ``rolled_at IS NULL``) or rolled (inside a bucket).

Windows are whole buckets: a period's ``start`` is rounded down to its granularity and
``end`` is the end of the current bucket, so finished buckets are read from rollups only
and the series adds up to the totals without splitting a bucket.

Values are exact ``Decimal``s with at most 6 fractional digits, totals and series points
alike, so the points add up to the totals to the last digit. The edges (the API's JSON,
the personal-data export) write them as exact JSON number literals, through ``number``.
"""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from usage.models import (
    NO_SLOT,
    QUANTITY_DECIMAL_PLACES,
    DailyRollup,
    HourlyRollup,
    Meter,
    MeterLimitOverride,
    QuotaCrossing,
    UsageEvent,
)
from usage.sqlite import EXACT_SUM

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
# Written with %% because every statement here runs with parameters: Django's SQLite
# backend turns %% back into % then, and the query logger (DEBUG, query-count assertions)
# formats ``sql % params``, which a bare % would break.
_SQLITE_TRUNC = {
    "minute": "%%Y-%%m-%%d %%H:%%M:00",
    "hour": "%%Y-%%m-%%d %%H:00:00",
    "day": "%%Y-%%m-%%d 00:00:00",
}
EVENTS = UsageEvent._meta.db_table
HOURLY = HourlyRollup._meta.db_table
DAILY = DailyRollup._meta.db_table

ZERO = Decimal(0)
_QUANT = Decimal(1).scaleb(-QUANTITY_DECIMAL_PLACES)
_ONE = Decimal(1)
# Room for any sum of NUMERIC(38, 6) values: the default 28 digits would round big sums.
_EXACT = Context(prec=60)


# --- small SQL helpers (raw SQL: one statement per read, portable SQLite/PostgreSQL) ----


def _is_pg() -> bool:
    return connection.vendor == "postgresql"


def _sum() -> str:
    """SUM of decimals: PostgreSQL adds NUMERIC exactly; on SQLite, usage.sqlite's Decimal sum."""
    return "SUM" if _is_pg() else EXACT_SUM


def _trunc(unit: str, column: str) -> str:
    if _is_pg():
        return f"date_trunc('{unit}', {column})"
    return f"strftime('{_SQLITE_TRUNC[unit]}', {column})"


def _epoch(expression: str) -> str:
    """Seconds since 1970 as an integer: far cheaper to read back than a timestamp."""
    if _is_pg():
        return f"CAST(EXTRACT(EPOCH FROM {expression}) AS bigint)"
    # '%%' because the statement goes through parameter substitution ('%s' is a placeholder).
    return f"CAST(strftime('%%s', {expression}) AS INTEGER)"


def _p_uuid(value) -> Any:
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if _is_pg() else value.hex


def _p_dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _as_dt(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _as_decimal(value) -> Decimal:
    """An aggregate read back as the exact decimal it stands for (6 fractional digits).

    PostgreSQL adds NUMERIC exactly. On SQLite sums come from ``usage.sqlite``'s exact
    Decimal sum (as text) and MAX as the binary float SQLite keeps, which reads back as the
    stored decimal (at most 15 significant digits, 6 of them fractional).
    """
    if value is None:
        return ZERO
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(_QUANT, context=_EXACT)


def _plain(value: Decimal) -> Decimal:
    """The same decimal without trailing zeros or an exponent: 12.500000 → 12.5, 3.0 → 3."""
    if value == value.to_integral_value():
        return value.quantize(_ONE, context=_EXACT)
    return value.normalize(_EXACT)


def _as_uuid(value) -> uuid.UUID | None:
    if value is None:
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def number(value: Decimal) -> Decimal:
    """An exact decimal for the edges (API responses, exports): no trailing zeros.

    The API's renderer and the export's encoder (``config.api.renderers``) write a Decimal
    as the JSON number literal it holds, every digit kept (a float would keep only 15-17
    significant digits), so sums of the numbers match the totals to the last digit.
    """
    return _plain(_as_decimal(value))


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


# --- meters -------------------------------------------------------------------------------


def meter_list(*, active_only: bool = False):
    qs = Meter.objects.order_by("key")
    return qs.filter(is_active=True) if active_only else qs


def _meters_by_id() -> dict[int, Meter]:
    return {m.id: m for m in Meter.objects.all()}


class _Acc:
    """Combines partial aggregates of one meter with the meter's own aggregation."""

    __slots__ = ("aggregation", "value", "events")

    def __init__(self, aggregation: str):
        self.aggregation = aggregation
        self.value = ZERO
        self.events = 0

    def add(self, total, biggest, count, *, raw: bool) -> None:
        count = int(count or 0)
        if count == 0 and total is None:
            return
        if self.aggregation == Meter.Aggregation.MAX:
            self.value = max(self.value, _as_decimal(biggest))
        elif self.aggregation == Meter.Aggregation.COUNT:
            # Rolled buckets of a count meter already hold the number of events.
            self.value = _EXACT.add(self.value, Decimal(count) if raw else _as_decimal(total))
        else:
            self.value = _EXACT.add(self.value, _as_decimal(total))
        self.events += count

    @property
    def result(self) -> Decimal:
        return _plain(self.value)


# --- the exact read: rollups + un-rolled tail, one statement ------------------------------


def _filters(
    *, table_alias: str, user, meter_id, slot_id, rollup: bool
) -> tuple[list[str], list[Any]]:
    where, params = [], []
    if user is not None:
        where.append(f"{table_alias}.user_id = %s")
        params.append(_p_uuid(user.pk if hasattr(user, "pk") else user))
    if meter_id is not None:
        where.append(f"{table_alias}.meter_id = %s")
        params.append(meter_id)
    if slot_id is not None:
        where.append(f"{table_alias}.slot_id = %s")
        params.append(_p_uuid(slot_id))
    if not rollup:
        where.append(f"{table_alias}.rolled_at IS NULL")
    return where, params


def _bucketed_rows(
    *, window: Window, user=None, meter_id=None, slot_id=None
) -> list[tuple[int, int, Any, Any, Any, bool]]:
    """(bucket start as epoch seconds, meter_id, sum, max, events, is_raw) per non-empty bucket."""
    start, end = _p_dt(window.start), _p_dt(window.end)
    if window.granularity == "minute":
        # No minute rollups: the last hour is read raw (rolled or not), which is exact.
        where, params = _filters(
            table_alias="e", user=user, meter_id=meter_id, slot_id=slot_id, rollup=True
        )
        sql = (
            f"SELECT {_epoch(_trunc('minute', 'e.occurred_at'))} AS b, e.meter_id, "
            f"{_sum()}(e.quantity), MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            + "".join(f" AND {w}" for w in where)
            + " GROUP BY 1, 2"
        )
        all_params = [start, end, *params]
    else:
        table = HOURLY if window.granularity == "hour" else DAILY
        r_where, r_params = _filters(
            table_alias="r", user=user, meter_id=meter_id, slot_id=slot_id, rollup=True
        )
        e_where, e_params = _filters(
            table_alias="e", user=user, meter_id=meter_id, slot_id=slot_id, rollup=False
        )
        sql = (
            f"SELECT {_epoch('r.bucket_start')} AS b, r.meter_id, {_sum()}(r.value), MAX(r.value), "
            f"SUM(r.event_count), 0 FROM {table} r "
            f"WHERE r.bucket_start >= %s AND r.bucket_start < %s"
            + "".join(f" AND {w}" for w in r_where)
            + " GROUP BY 1, 2 UNION ALL "
            f"SELECT {_epoch(_trunc(window.granularity, 'e.occurred_at'))} AS b, e.meter_id, "
            f"{_sum()}(e.quantity), MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
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
    meters = _meters_by_id()
    rows = _bucketed_rows(
        window=window, user=user, meter_id=meter.id if meter else None, slot_id=slot_id
    )
    buckets: dict[tuple[int, int], _Acc] = {}
    totals: dict[int, _Acc] = {}
    for bucket, meter_id, total, biggest, count, raw in rows:
        aggregation = meters[meter_id].aggregation
        acc = buckets.setdefault((bucket, meter_id), _Acc(aggregation))
        acc.add(total, biggest, count, raw=raw)
        totals.setdefault(meter_id, _Acc(aggregation)).add(total, biggest, count, raw=raw)

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
    start, end = _p_dt(window.start), _p_dt(window.end)
    no_slot = _p_uuid(NO_SLOT)
    if window.granularity == "minute":
        where, params = _filters(
            table_alias="e", user=user, meter_id=None, slot_id=None, rollup=True
        )
        sql = (
            f"SELECT e.user_id, e.meter_id, COALESCE(e.slot_id, %s), {_sum()}(e.quantity), "
            f"MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            + "".join(f" AND {w}" for w in where)
            + " GROUP BY 1, 2, 3"
        )
        all_params = [no_slot, start, end, *params]
    else:
        table = HOURLY if window.granularity == "hour" else DAILY
        r_where, r_params = _filters(
            table_alias="r", user=user, meter_id=None, slot_id=None, rollup=True
        )
        e_where, e_params = _filters(
            table_alias="e", user=user, meter_id=None, slot_id=None, rollup=False
        )
        sql = (
            f"SELECT r.user_id, r.meter_id, r.slot_id, {_sum()}(r.value), MAX(r.value), "
            f"SUM(r.event_count), 0 FROM {table} r "
            f"WHERE r.bucket_start >= %s AND r.bucket_start < %s"
            + "".join(f" AND {w}" for w in r_where)
            + " GROUP BY 1, 2, 3 UNION ALL "
            f"SELECT e.user_id, e.meter_id, COALESCE(e.slot_id, %s), {_sum()}(e.quantity), "
            f"MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            + "".join(f" AND {w}" for w in e_where)
            + " GROUP BY 1, 2, 3"
        )
        all_params = [start, end, *r_params, no_slot, start, end, *e_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        return cursor.fetchall()


def usage_system_stats(*, period: str, now: datetime | None = None, top: int = 10) -> dict:
    """Everyone's usage: totals, active users and slots, top users per meter."""
    from django.contrib.auth import get_user_model

    window = period_window(period, now=now)
    meters = _meters_by_id()
    totals: dict[int, _Acc] = {}
    per_user: dict[int, dict[uuid.UUID, _Acc]] = defaultdict(dict)
    users, slots = set(), set()
    for user_id, meter_id, slot_id, total, biggest, count, raw in _grouped_rows(window=window):
        aggregation = meters[meter_id].aggregation
        user_id, slot_id = _as_uuid(user_id), _as_uuid(slot_id)
        totals.setdefault(meter_id, _Acc(aggregation)).add(total, biggest, count, raw=bool(raw))
        per_user[meter_id].setdefault(user_id, _Acc(aggregation)).add(
            total, biggest, count, raw=bool(raw)
        )
        if count:
            users.add(user_id)
            if slot_id != NO_SLOT:
                slots.add(slot_id)
    shown = sorted(
        (m for m in meters.values() if m.is_active or m.id in totals), key=lambda m: m.key
    )
    top_users: dict[str, list[dict]] = {}
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
    for key, entries in ranked.items():
        top_users[key] = [
            {"user": str(uid), "email": emails.get(uid, ""), "value": _plain(value)}
            for uid, value in entries
        ]
    return {
        "period": period,
        "start": window.start,
        "end": window.end,
        "totals": {m.key: totals[m.id].result if m.id in totals else ZERO for m in shown},
        "active_users": len(users),
        "active_slots": len(slots),
        "top_users": top_users,
    }


# --- quota --------------------------------------------------------------------------------


def quota_window(window: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The UTC calendar day or month containing ``now``: [start, end)."""
    now = (now or timezone.now()).astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if window == Meter.Window.DAY:
        return day, day + timedelta(days=1)
    start = day.replace(day=1)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def effective_limits(*, user, meter_ids=None) -> dict[int, tuple[Meter, Decimal]]:
    """Meters that limit this user, with the limit that applies (override first)."""
    meters = Meter.objects.filter(is_active=True)
    if meter_ids is not None:
        meters = meters.filter(id__in=list(meter_ids))
    meters = list(meters)
    overrides = {
        o.meter_id: o.limit
        for o in MeterLimitOverride.objects.filter(user=user, meter__in=meters).only(
            "meter_id", "limit"
        )
    }
    out = {}
    for m in meters:
        limit = overrides[m.id] if m.id in overrides else m.limit
        if limit is not None:
            out[m.id] = (m, limit)
    return out


def usage_in_range(*, user, meter_ids, start: datetime, end: datetime) -> dict[int, Decimal]:
    """Exact usage per meter in a day-aligned range: daily rollups + the un-rolled tail."""
    meter_ids = list(meter_ids)
    if not meter_ids:
        return {}
    marks = ", ".join(["%s"] * len(meter_ids))
    uid = _p_uuid(user.pk if hasattr(user, "pk") else user)
    sql = (
        f"SELECT r.meter_id, {_sum()}(r.value), MAX(r.value), SUM(r.event_count), 0 FROM {DAILY} r "
        f"WHERE r.user_id = %s AND r.meter_id IN ({marks}) "
        f"AND r.bucket_start >= %s AND r.bucket_start < %s GROUP BY 1 UNION ALL "
        f"SELECT e.meter_id, {_sum()}(e.quantity), MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
        f"WHERE e.user_id = %s AND e.meter_id IN ({marks}) AND e.rolled_at IS NULL "
        f"AND e.occurred_at >= %s AND e.occurred_at < %s GROUP BY 1"
    )
    params = [uid, *meter_ids, _p_dt(start), _p_dt(end)] * 2
    meters = {m.id: m for m in Meter.objects.filter(id__in=meter_ids)}
    accs: dict[int, _Acc] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for meter_id, total, biggest, count, raw in cursor.fetchall():
            accs.setdefault(meter_id, _Acc(meters[meter_id].aggregation)).add(
                total, biggest, count, raw=bool(raw)
            )
    return {mid: (accs[mid].value if mid in accs else ZERO) for mid in meter_ids}


def usage_quota(*, user, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per limited meter: limit, exact use in the current window, and the crossing flag."""
    now = now or timezone.now()
    limits = effective_limits(user=user)
    by_window: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for meter_id, (m, _) in limits.items():
        by_window[quota_window(m.limit_window, now=now)].append(meter_id)
    used: dict[int, Decimal] = {}
    windows: dict[int, tuple[datetime, datetime]] = {}
    for (start, end), meter_ids in by_window.items():
        used.update(usage_in_range(user=user, meter_ids=meter_ids, start=start, end=end))
        windows.update({mid: (start, end) for mid in meter_ids})
    crossings = {
        (c.meter_id, c.window_start): c
        for c in QuotaCrossing.objects.filter(
            user=user, meter_id__in=list(limits), window_end__gt=now
        )
    }
    out = []
    for meter_id, (m, limit) in sorted(limits.items(), key=lambda item: item[1][0].key):
        start, end = windows[meter_id]
        crossing = crossings.get((meter_id, start))
        out.append(
            {
                "meter": m.key,
                "limit": _plain(limit),
                "used": _plain(used[meter_id]),
                "remaining": _plain(max(ZERO, _EXACT.subtract(limit, used[meter_id]))),
                "window": m.limit_window,
                "window_start": start,
                "window_end": end,
                "exceeded": crossing is not None,
                "exceeded_at": crossing.crossed_at if crossing else None,
            }
        )
    return out


# --- exports, admin, health ---------------------------------------------------------------


def usage_all_time(*, user) -> dict[str, Decimal]:
    """Totals per meter since the beginning (daily rollups survive raw-event retention)."""
    uid = _p_uuid(user.pk)
    sql = (
        f"SELECT r.meter_id, {_sum()}(r.value), MAX(r.value), SUM(r.event_count), 0 FROM {DAILY} r "
        f"WHERE r.user_id = %s GROUP BY 1 UNION ALL "
        f"SELECT e.meter_id, {_sum()}(e.quantity), MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
        f"WHERE e.user_id = %s AND e.rolled_at IS NULL GROUP BY 1"
    )
    meters = _meters_by_id()
    accs: dict[int, _Acc] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [uid, uid])
        for meter_id, total, biggest, count, raw in cursor.fetchall():
            accs.setdefault(meter_id, _Acc(meters[meter_id].aggregation)).add(
                total, biggest, count, raw=bool(raw)
            )
    return {meters[mid].key: acc.result for mid, acc in sorted(accs.items())}


def usage_export_for_user(*, user) -> dict[str, Any]:
    """What Roster holds about the user's usage: totals (all time, 24h, 7d, 30d) and quotas.

    Timestamps are datetimes (UTC); values are JSON numbers.
    """

    def numbers(totals: dict[str, Decimal]) -> dict[str, Decimal]:
        return {key: number(value) for key, value in totals.items()}

    quota = [
        {**q, **{f: number(q[f]) for f in ("limit", "used", "remaining")}}
        for q in usage_quota(user=user)
    ]
    return {
        "totals": {
            "all_time": numbers(usage_all_time(user=user)),
            "24h": numbers(usage_totals(user=user, period="24h")),
            "7d": numbers(usage_totals(user=user, period="7d")),
            "30d": numbers(usage_totals(user=user, period="30d")),
        },
        "quota": quota,
        "quota_crossings": [
            {
                "meter": c.meter.key,
                "window_start": c.window_start,
                "window_end": c.window_end,
                "limit": number(c.limit),
                "used": number(c.used),
                "crossed_at": c.crossed_at,
            }
            for c in QuotaCrossing.objects.filter(user=user).select_related("meter")
        ],
    }


ROLLUP_LAST_RUN_KEY = "usage:rollup:last-run"


def rollup_last_run() -> dict[str, Any] | None:
    """When the periodic rollup last finished and how many events it rolled, or None."""
    run = cache.get(ROLLUP_LAST_RUN_KEY)
    if not run:
        return None
    return {"at": datetime.fromisoformat(run["at"]), "events": int(run["events"])}


def unrolled_backlog() -> dict[str, Any]:
    """Events waiting for the rollup: ``{"events", "oldest_occurred_at", "oldest_received_at"}``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MIN(occurred_at), MIN(received_at) FROM {EVENTS} "
            f"WHERE rolled_at IS NULL"
        )
        count, oldest, oldest_received = cursor.fetchone()
    return {
        "events": int(count or 0),
        "oldest_occurred_at": _as_dt(oldest) if oldest else None,
        "oldest_received_at": _as_dt(oldest_received) if oldest_received else None,
    }


def usage_events_for(*, user):
    """The user's own raw events, newest first (the API filters and paginates)."""
    return UsageEvent.objects.filter(user=user).select_related("meter")


def usage_export_rows(*, user=None, start: datetime, end: datetime, granularity: str = "day"):
    """Exact usage per (bucket, user, meter, slot) in [start, end), streamed in order.

    Rollups and the un-rolled tail of one bucket arrive next to each other (ordered by
    key) and are merged before a row is yielded.
    """
    from django.contrib.auth import get_user_model

    table = HOURLY if granularity == "hour" else DAILY
    r_where, r_params = _filters(
        table_alias="r", user=user, meter_id=None, slot_id=None, rollup=True
    )
    e_where, e_params = _filters(
        table_alias="e", user=user, meter_id=None, slot_id=None, rollup=False
    )
    no_slot = _p_uuid(NO_SLOT)
    sql = (
        f"SELECT b, user_id, meter_id, slot_id, s, x, n, raw FROM ("
        f"SELECT r.bucket_start AS b, r.user_id, r.meter_id, r.slot_id, {_sum()}(r.value) AS s, "
        f"MAX(r.value) AS x, SUM(r.event_count) AS n, 0 AS raw FROM {table} r "
        f"WHERE r.bucket_start >= %s AND r.bucket_start < %s"
        + "".join(f" AND {w}" for w in r_where)
        + " GROUP BY 1, 2, 3, 4 UNION ALL "
        f"SELECT {_trunc(granularity, 'e.occurred_at')} AS b, e.user_id, e.meter_id, "
        f"COALESCE(e.slot_id, %s) AS slot_id, {_sum()}(e.quantity), MAX(e.quantity), COUNT(*), 1 "
        f"FROM {EVENTS} e WHERE e.occurred_at >= %s AND e.occurred_at < %s"
        + "".join(f" AND {w}" for w in e_where)
        + " GROUP BY 1, 2, 3, 4) u ORDER BY b, user_id, meter_id, slot_id"
    )
    params = [_p_dt(start), _p_dt(end), *r_params, no_slot, _p_dt(start), _p_dt(end), *e_params]
    meters = _meters_by_id()
    emails: dict = {}
    users = get_user_model().objects

    def email_of(user_id) -> str:
        if user_id not in emails:
            if len(emails) > 10_000:
                emails.clear()
            emails[user_id] = users.filter(pk=user_id).values_list("email", flat=True).first()
        return emails[user_id] or ""

    def emit(key, acc):
        bucket, user_id, meter_id, slot_id = key
        return {
            "bucket_start": bucket,
            "user_id": str(user_id),
            "email": email_of(user_id),
            "meter": meters[meter_id].key,
            "slot_id": None if slot_id == NO_SLOT else str(slot_id),
            "value": acc.result,
            "events": acc.events,
        }

    # A server-side cursor on PostgreSQL: a year of hourly rows never sits in memory at once.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        current_key, acc = None, None
        while True:
            chunk = cursor.fetchmany(2000)
            if not chunk:
                break
            for b, user_id, meter_id, slot_id, s, x, n, raw in chunk:
                key = (_as_dt(b), _as_uuid(user_id), meter_id, _as_uuid(slot_id))
                if key != current_key:
                    if acc is not None:
                        yield emit(current_key, acc)
                    current_key, acc = key, _Acc(meters[meter_id].aggregation)
                acc.add(s, x, n, raw=bool(raw))
        if acc is not None:
            yield emit(current_key, acc)
