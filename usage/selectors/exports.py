# ruff: noqa: S608 - SQL text is built from table names, column expressions and %s
# placeholders defined in usage; every value goes through query parameters.
"""What leaves the system: a person's usage in their export, and the admin's CSV rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from usage.models import NO_SLOT, DailyRollup, HourlyRollup, QuotaCrossing, UsageEvent
from usage.selectors.common import (
    Acc,
    as_dt,
    as_uuid,
    filters,
    meters_by_id,
    number,
    p_dt,
    p_uuid,
)
from usage.selectors.quota import usage_quota
from usage.selectors.stats import usage_totals
from usage.sql import dialect

EVENTS = UsageEvent._meta.db_table
HOURLY = HourlyRollup._meta.db_table
DAILY = DailyRollup._meta.db_table


def usage_all_time(*, user) -> dict[str, Decimal]:
    """Totals per meter since the beginning (daily rollups survive raw-event retention)."""
    total = dialect().SUM
    uid = p_uuid(user.pk)
    sql = (
        f"SELECT r.meter_id, {total}(r.value), MAX(r.value), SUM(r.event_count), 0 FROM {DAILY} r "
        f"WHERE r.user_id = %s GROUP BY 1 UNION ALL "
        f"SELECT e.meter_id, {total}(e.quantity), MAX(e.quantity), COUNT(*), 1 FROM {EVENTS} e "
        f"WHERE e.user_id = %s AND e.rolled_at IS NULL GROUP BY 1"
    )
    meters = meters_by_id()
    accs: dict[int, Acc] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [uid, uid])
        for meter_id, subtotal, biggest, count, raw in cursor.fetchall():
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


def _export_rows_sql(*, user, start: datetime, end: datetime, granularity: str):
    """Rollups and the un-rolled tail per (bucket, user, meter, slot), ordered by that key."""
    db = dialect()
    table = HOURLY if granularity == "hour" else DAILY
    r_where, r_params = filters(
        table_alias="r", user=user, meter_id=None, slot_id=None, rollup=True
    )
    e_where, e_params = filters(
        table_alias="e", user=user, meter_id=None, slot_id=None, rollup=False
    )
    sql = (
        f"SELECT b, user_id, meter_id, slot_id, s, x, n, raw FROM ("
        f"SELECT r.bucket_start AS b, r.user_id, r.meter_id, r.slot_id, {db.SUM}(r.value) AS s, "
        f"MAX(r.value) AS x, SUM(r.event_count) AS n, 0 AS raw FROM {table} r "
        f"WHERE r.bucket_start >= %s AND r.bucket_start < %s"
        + "".join(f" AND {w}" for w in r_where)
        + " GROUP BY 1, 2, 3, 4 UNION ALL "
        f"SELECT {db.trunc(granularity, 'e.occurred_at')} AS b, e.user_id, e.meter_id, "
        f"COALESCE(e.slot_id, %s) AS slot_id, {db.SUM}(e.quantity), MAX(e.quantity), COUNT(*), 1 "
        f"FROM {EVENTS} e WHERE e.occurred_at >= %s AND e.occurred_at < %s"
        + "".join(f" AND {w}" for w in e_where)
        + " GROUP BY 1, 2, 3, 4) u ORDER BY b, user_id, meter_id, slot_id"
    )
    no_slot = p_uuid(NO_SLOT)
    params = [p_dt(start), p_dt(end), *r_params, no_slot, p_dt(start), p_dt(end), *e_params]
    return sql, params


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
    sql, params = _export_rows_sql(user=user, start=start, end=end, granularity=granularity)
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
