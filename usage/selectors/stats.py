"""Exact stats over a period: a user's (or everyone's) totals and series, the admin view.

Exactness: every read adds rollups to the raw events that are not rolled yet in one
statement (``usage.selectors.tail``), so an event is counted once, rolled or not.

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
from django.utils import timezone

from usage.models import NO_SLOT, Meter
from usage.selectors.common import ZERO, Acc, as_uuid, meters_by_id, plain
from usage.selectors.tail import fetch_rollups_and_tail

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
    rows = fetch_rollups_and_tail(
        keys=("epoch", "meter"),
        granularity=window.granularity,
        start=window.start,
        end=window.end,
        user=user,
        meter_ids=None if meter_id is None else [meter_id],
        slot_id=slot_id,
    )
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
    return fetch_rollups_and_tail(
        keys=("user", "meter", "slot"),
        granularity=window.granularity,
        start=window.start,
        end=window.end,
        user=user,
    )


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
