# ruff: noqa: S608 - SQL text is built from a table name defined in usage.models.
"""Meters, raw events, and how far the rollup has got."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import connection

from usage.models import Meter, UsageEvent
from usage.selectors.common import as_dt

EVENTS = UsageEvent._meta.db_table
ROLLUP_LAST_RUN_KEY = "usage:rollup:last-run"


def meter_list(*, active_only: bool = False):
    qs = Meter.objects.order_by("key")
    return qs.filter(is_active=True) if active_only else qs


def usage_events_for(*, user):
    """The user's own raw events, newest first (the API filters and paginates)."""
    return UsageEvent.objects.filter(user=user).select_related("meter")


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
        "oldest_occurred_at": as_dt(oldest) if oldest else None,
        "oldest_received_at": as_dt(oldest_received) if oldest_received else None,
    }
