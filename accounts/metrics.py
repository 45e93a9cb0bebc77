"""Account figures for /metrics and the admin dashboard: cheap, indexed counts."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import ApiSession, User

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
    from audit.models import AuditEvent

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
