"""Quota state: the limits that apply, exact use in the current window, the crossing flag."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from orgs.selectors import plan_limits_for
from usage.models import Meter, MeterLimitOverride, QuotaCrossing
from usage.selectors.common import EXACT, ZERO, Acc, plain
from usage.selectors.tail import fetch_rollups_and_tail


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
    """Meters that limit this user, with the limit that applies: the most generous of the
    user's own (their override, else the meter's default; empty is unlimited) and their
    organizations' plans (``orgs.selectors.plan_limits_for``). A plan only raises a limit:
    a meter the user is not limited on stays unlimited."""
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
    own = {m: overrides[m.id] if m.id in overrides else m.limit for m in meters}
    limited = [(m, limit) for m, limit in own.items() if limit is not None]
    if not limited:
        return {}
    from_plans = plan_limits_for(user).usage
    return {
        m.id: (m, max(limit, Decimal(from_plans[m.key])) if m.key in from_plans else limit)
        for m, limit in limited
    }


def usage_in_range(*, user, meter_ids, start: datetime, end: datetime) -> dict[int, Decimal]:
    """Exact usage per meter in a day-aligned range: daily rollups + the un-rolled tail."""
    meter_ids = list(meter_ids)
    if not meter_ids:
        return {}
    meters = {m.id: m for m in Meter.objects.filter(id__in=meter_ids)}
    accs: dict[int, Acc] = {}
    for meter_id, subtotal, biggest, count, raw in fetch_rollups_and_tail(
        keys=("meter",), granularity="day", start=start, end=end, user=user, meter_ids=meter_ids
    ):
        accs.setdefault(meter_id, Acc(meters[meter_id].aggregation)).add(
            subtotal, biggest, count, raw=bool(raw)
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
                "limit": plain(limit),
                "used": plain(used[meter_id]),
                "remaining": plain(max(ZERO, EXACT.subtract(limit, used[meter_id]))),
                "window": m.limit_window,
                "window_start": start,
                "window_end": end,
                "exceeded": crossing is not None,
                "exceeded_at": crossing.crossed_at if crossing else None,
            }
        )
    return out
