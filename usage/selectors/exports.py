"""What leaves the system: a person's usage in their export, and the admin's CSV rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from usage.models import NO_SLOT, QuotaCrossing
from usage.selectors.common import Acc, as_dt, as_uuid, meters_by_id, number
from usage.selectors.quota import usage_quota
from usage.selectors.stats import usage_totals
from usage.selectors.tail import fetch_rollups_and_tail, rollups_and_tail


def usage_all_time(*, user) -> dict[str, Decimal]:
    """Totals per meter since the beginning (daily rollups survive raw-event retention)."""
    meters = meters_by_id()
    accs: dict[int, Acc] = {}
    for meter_id, subtotal, biggest, count, raw in fetch_rollups_and_tail(
        keys=("meter",), granularity="day", user=user
    ):
        accs.setdefault(meter_id, Acc(meters[meter_id].aggregation)).add(
            subtotal, biggest, count, raw=bool(raw)
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


class _Emails:
    """Email by user id, one query per user, remembering at most ~10,000 of them."""

    def __init__(self) -> None:
        self.users = get_user_model().objects
        self.known: dict = {}

    def __getitem__(self, user_id) -> str:
        if user_id not in self.known:
            if len(self.known) > 10_000:
                self.known.clear()
            self.known[user_id] = (
                self.users.filter(pk=user_id).values_list("email", flat=True).first()
            )
        return self.known[user_id] or ""


def usage_export_rows(
    *, user=None, start: datetime, end: datetime, granularity: str = "day"
) -> Iterator[dict[str, Any]]:
    """Exact usage per (bucket, user, meter, slot) in [start, end), streamed in order.

    Rollups and the un-rolled tail of one bucket arrive next to each other (ordered by
    key) and are merged before a row is yielded.
    """
    sql, params = rollups_and_tail(
        keys=("bucket", "user", "meter", "slot"),
        granularity=granularity,
        start=start,
        end=end,
        user=user,
        ordered=True,
    )
    meters = meters_by_id()
    emails = _Emails()

    def emit(key, acc: Acc) -> dict[str, Any]:
        bucket, user_id, meter_id, slot_id = key
        return {
            "bucket_start": bucket,
            "user_id": str(user_id),
            "email": emails[user_id],
            "meter": meters[meter_id].key,
            "slot_id": None if slot_id == NO_SLOT else str(slot_id),
            "value": acc.result,
            "events": acc.events,
        }

    # A server-side cursor on PostgreSQL: a year of hourly rows never sits in memory at once.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        current_key, acc = None, None
        while chunk := cursor.fetchmany(2000):
            for b, user_id, meter_id, slot_id, s, x, n, raw in chunk:
                key = (as_dt(b), as_uuid(user_id), meter_id, as_uuid(slot_id))
                if key != current_key:
                    if acc is not None:
                        yield emit(current_key, acc)
                    current_key, acc = key, Acc(meters[meter_id].aggregation)
                acc.add(s, x, n, raw=bool(raw))
        if acc is not None:
            yield emit(current_key, acc)
