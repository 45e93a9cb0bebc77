"""Quota crossings: flag (and audit) a limit crossed, once per user, meter and window."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record
from usage import selectors
from usage.models import Meter, MeterLimitOverride, QuotaCrossing


def limited_meter_ids(user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    """Per user, the meters that may limit them (a default limit or an override)."""
    defaults = set(Meter.objects.filter(limit__isnull=False).values_list("id", flat=True))
    out: dict[uuid.UUID, set[int]] = {u: set(defaults) for u in user_ids}
    for user_id, meter_id in MeterLimitOverride.objects.filter(
        user_id__in=list(user_ids)
    ).values_list("user_id", "meter_id"):
        out[user_id].add(meter_id)
    return out


def usage_quota_check(*, user, meter_ids=None, now: datetime | None = None) -> list[QuotaCrossing]:
    """Raise the over-limit flag (and audit it) once per user, meter and window."""
    if not hasattr(user, "pk"):
        user = get_user_model().objects.filter(pk=user).first()
        if user is None:  # erased since the check was queued
            return []
    now = now or timezone.now()
    limits = selectors.effective_limits(user=user, meter_ids=meter_ids)
    windows: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for meter_id, (meter, _) in limits.items():
        windows[selectors.quota_window(meter.limit_window, now=now)].append(meter_id)
    crossings = []
    for (start, end), ids in windows.items():
        used = selectors.usage_in_range(user=user, meter_ids=ids, start=start, end=end)
        for meter_id in ids:
            meter, limit = limits[meter_id]
            if used[meter_id] <= limit:
                continue
            crossing = _record_crossing(
                user=user,
                meter=meter,
                limit=limit,
                used=used[meter_id],
                window=(start, end),
                now=now,
            )
            if crossing is not None:
                crossings.append(crossing)
    return crossings


def _record_crossing(
    *, user, meter: Meter, limit, used, window: tuple[datetime, datetime], now: datetime
) -> QuotaCrossing | None:
    """The crossing and its audit event, unless this window's crossing is recorded already."""
    start, end = window
    if QuotaCrossing.objects.filter(user=user, meter=meter, window_start=start).exists():
        return None
    try:
        with transaction.atomic():
            crossing = QuotaCrossing.objects.create(
                user=user,
                meter=meter,
                window_start=start,
                window_end=end,
                limit=limit,
                used=used,
                crossed_at=now,
            )
            record(
                action="usage.quota.exceeded",
                actor=None,
                target=user,
                metadata={
                    "meter": meter.key,
                    "limit": str(limit),
                    "used": str(used),
                    "window": meter.limit_window,
                    "window_start": start.isoformat(),
                    "window_end": end.isoformat(),
                },
            )
    except IntegrityError:
        return None  # another checker recorded this window first
    return crossing
