"""The admin index dashboard: a handful of numbers from each app's selectors.

The figures are global (the same for every admin), so they are computed at most once per
``ROSTER["ADMIN_DASHBOARD_CACHE_SECONDS"]`` and kept in the shared cache: a busy admin
index costs one cache read, not one aggregate per figure per page view. Each viewer then
sees only the sections their permissions cover.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.models import AuditChain, AuditEvent
from orgs.models import Organization, Team
from orgs.selectors import with_seats
from slots.selectors import slot_counts_by_status
from usage.selectors import rollup_last_run, unrolled_backlog, usage_stats, usage_totals

CACHE_KEY = "roster:admin:dashboard:v2"
USAGE_PERIODS = ("24h", "7d", "30d")

# Inline SVG chart geometry (pixels).
_CHART_ROW_HEIGHT = 28
_CHART_ROW_GAP = 8
_CHART_LABEL_WIDTH = 130
_CHART_WIDTH = 300


def user_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """Users by status, sign-ups and active users over 7/30 days, in one aggregate query."""
    now = now or timezone.now()
    user_model = get_user_model()
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    statuses = [choice.value for choice in user_model.Status]
    row = user_model.objects.order_by().aggregate(
        total=Count("pk"),
        new_7d=Count("pk", filter=Q(date_joined__gte=week)),
        new_30d=Count("pk", filter=Q(date_joined__gte=month)),
        active_7d=Count("pk", filter=Q(last_login__gte=week)),
        active_30d=Count("pk", filter=Q(last_login__gte=month)),
        **{f"status_{s}": Count("pk", filter=Q(status=s)) for s in statuses},
    )
    return {
        "total": row["total"],
        "by_status": {s: row[f"status_{s}"] for s in statuses},
        "new": {"7d": row["new_7d"], "30d": row["new_30d"]},
        "active": {"7d": row["active_7d"], "30d": row["active_30d"]},
    }


def _slot_summary() -> dict[str, int]:
    return slot_counts_by_status()


def _usage_summary() -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """``{meter: {period: total}}`` for the dashboard periods, and the 30-day daily series.

    Exact figures (rollups + the un-rolled tail) from the usage app's own selectors.
    """
    month = usage_stats(user=None, period="30d")
    per_period = {p: usage_totals(user=None, period=p) for p in USAGE_PERIODS if p != "30d"}
    per_period["30d"] = month["totals"]
    meters = sorted({m for totals in per_period.values() for m in totals})
    by_meter = {m: {p: per_period[p].get(m, 0) for p in USAGE_PERIODS} for m in meters}
    return by_meter, month["series"]


ORGANIZATION_ROWS = 25


def organization_summary() -> dict[str, Any]:
    """Per organization (the busiest ``ORGANIZATION_ROWS`` by seats used, archived ones
    left out): seats used (members plus pending invitations, as ``orgs.services.rules``
    counts them) against the limit, members and teams. One query; ``more`` says whether
    organizations were left out."""
    teams = (
        Team.objects.filter(organization_id=OuterRef("pk"))
        .order_by()
        .values("organization_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    rows = list(
        with_seats(Organization.objects.exclude(status=Organization.Status.ARCHIVED))
        .annotate(
            team_total=Coalesce(Subquery(teams, output_field=IntegerField()), 0),
            seats_used=F("member_total") + F("pending_total"),
        )
        .order_by("-seats_used", "name")
        .values(
            "id",
            "slug",
            "name",
            "status",
            "seat_limit",
            "member_total",
            "pending_total",
            "seats_used",
            "team_total",
        )[: ORGANIZATION_ROWS + 1]
    )
    return {"rows": rows[:ORGANIZATION_ROWS], "more": len(rows) > ORGANIZATION_ROWS}


def _failed_logins(*, now: datetime) -> int:
    return AuditEvent.objects.filter(
        occurred_at__gte=now - timedelta(hours=24), action="auth.login.failed"
    ).count()


def _queue_health() -> dict[str, Any]:
    """Is the background work keeping up? The rollup backlog and the audit sealer's progress.

    The rollup task records its last run in the shared cache; the age of the oldest event
    still waiting tells how far behind it is. The sealer records its last run on the
    audit chain row; unsealed events are read through the sealer's own partial index.
    """
    backlog = unrolled_backlog()
    last_rollup = rollup_last_run()
    chain = AuditChain.objects.filter(pk=1).only("sealed_at", "head_seq").first()
    return {
        "unrolled_events": backlog["events"],
        "oldest_unrolled_received_at": backlog["oldest_received_at"],
        "last_rollup_at": last_rollup["at"] if last_rollup else None,
        "last_rollup_events": last_rollup["events"] if last_rollup else None,
        "last_seal_at": chain.sealed_at if chain else None,
        "unsealed_events": AuditEvent.objects.filter(seq__isnull=True).count(),
    }


def usage_chart(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Daily bars per meter for an inline SVG (no script, no external asset: CSP-safe).

    Each meter gets one row of bars scaled to its own busiest day, so meters of very
    different sizes stay readable side by side.
    """
    per_meter: dict[str, list[tuple[Any, float]]] = {}
    for point in series:
        per_meter.setdefault(point["meter"], []).append((point["start"], point["value"]))
    rows = []
    y = 0
    for meter in sorted(per_meter):
        points = per_meter[meter]
        peak = max((v for _, v in points), default=0) or 1
        step = _CHART_WIDTH / max(len(points), 1)
        bars = []
        for index, (start, value) in enumerate(points):
            height = round(_CHART_ROW_HEIGHT * value / peak, 1)
            bars.append(
                {
                    "x": round(_CHART_LABEL_WIDTH + index * step, 1),
                    "y": round(y + _CHART_ROW_HEIGHT - height, 1),
                    "width": round(max(step - 1, 1), 1),
                    "height": height,
                    "title": f"{meter} {start:%Y-%m-%d}: {value}",
                }
            )
        rows.append({"meter": meter, "label_y": y + _CHART_ROW_HEIGHT - 2, "bars": bars})
        y += _CHART_ROW_HEIGHT + _CHART_ROW_GAP
    return {"rows": rows, "width": _CHART_LABEL_WIDTH + _CHART_WIDTH, "height": max(y, 1)}


def dashboard_numbers(*, refresh: bool = False) -> dict[str, Any]:
    """Every dashboard figure, cached; ``refresh`` recomputes them now."""
    if not refresh:
        cached = cache.get(CACHE_KEY)
        if cached is not None:
            return cached
    now = timezone.now()
    usage, series = _usage_summary()
    numbers = {
        "generated_at": now,
        "users": user_summary(now=now),
        "slots": _slot_summary(),
        "usage": usage,
        "usage_chart": usage_chart(series),
        "failed_logins_24h": _failed_logins(now=now),
        "queue": _queue_health(),
        "organizations": organization_summary(),
    }
    cache.set(CACHE_KEY, numbers, settings.ROSTER.get("ADMIN_DASHBOARD_CACHE_SECONDS", 60))
    return numbers


def dashboard_for(request) -> dict[str, Any]:
    """The sections the signed-in staff member may see, for the admin index template."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return {}
    numbers = dashboard_numbers(refresh=request.GET.get("refresh") == "1")
    can_users = user.has_perm("accounts.view_user")
    can_slots = user.has_module_perms("slots")
    can_usage = user.has_module_perms("usage")
    can_audit = user.has_module_perms("audit")
    can_orgs = user.has_perm("orgs.view_organization")
    return {
        "generated_at": numbers["generated_at"],
        "periods": USAGE_PERIODS,
        "users": numbers["users"] if can_users else None,
        "slots": numbers["slots"] if can_slots else None,
        "usage": numbers["usage"] if can_usage else None,
        "usage_chart": numbers["usage_chart"] if can_usage else None,
        "failed_logins_24h": numbers["failed_logins_24h"] if can_audit else None,
        "queue": numbers["queue"] if (can_usage or can_audit) else None,
        "organizations": numbers["organizations"] if can_orgs else None,
    }
