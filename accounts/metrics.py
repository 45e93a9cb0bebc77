"""Account figures for /metrics: cheap, indexed counts, and the gauges built from them
(``account_gauges``, registered with ``config.metrics`` in ``AccountsConfig.ready``)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import ApiSession, User
from audit.models import AuditEvent
from config.metrics import gauge

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def active_user_counts() -> dict[str, int]:
    """Users who signed in on the pages or used an API session within each window."""
    now = timezone.now()
    counts = {}
    for label, span in WINDOWS.items():
        since = now - span
        api_users = ApiSession.objects.filter(last_seen_at__gte=since).values("user_id")
        counts[label] = (
            User.objects.filter(Q(last_login__gte=since) | Q(id__in=api_users))
            .values("id")
            .distinct()
            .count()
        )
    return counts


def user_counts_by_status() -> dict[str, int]:
    counts = dict.fromkeys(User.Status.values, 0)
    for row in User.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def login_event_counts() -> dict[str, int]:
    since = timezone.now() - timedelta(hours=24)
    rows = (
        AuditEvent.objects.filter(
            action__in=["auth.login.succeeded", "auth.login.failed"], occurred_at__gte=since
        )
        .values("action")
        .annotate(n=Count("id"))
    )
    counts = {"succeeded": 0, "failed": 0}
    for row in rows:
        counts[row["action"].rsplit(".", 1)[1]] = row["n"]
    return counts


def account_gauges():
    """Active users per window, users by status and the last day's sign-in attempts."""
    family = gauge("roster_active_users", "Users active within the window", ["window"])
    for window, count in active_user_counts().items():
        family.add_metric([window], count)
    yield family
    family = gauge("roster_users", "Users by status", ["status"])
    for status, count in user_counts_by_status().items():
        family.add_metric([status], count)
    yield family
    family = gauge("roster_login_events_24h", "Sign-in attempts in the last 24 h", ["result"])
    for result, count in login_event_counts().items():
        family.add_metric([result], count)
    yield family
