"""Read side of notifications: a user's own, never anyone else's."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from config.errors import NotFound
from notifications.models import Notification


def notifications_of(user, *, unread: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user_id=user.pk).select_related("from_user")
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return qs


def unread_count(user) -> int:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()


def notification_of(user, notification_id: Any) -> Notification:
    """The user's notification, else 404 (another user's is not found either)."""
    try:
        pk = uuid.UUID(str(notification_id))
    except ValueError:
        raise NotFound() from None
    found = Notification.objects.filter(user_id=user.pk, pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def _stamp(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def notifications_export_for_user(*, user: Any) -> list[dict[str, Any]]:
    """The person's notifications for the account export, newest first."""
    return [
        {
            "id": str(n.pk),
            "kind": n.kind,
            "title": n.title,
            "message": n.message,
            "priority": n.priority,
            "data": n.data,
            "from_user": str(n.from_user_id) if n.from_user_id else None,
            "created_at": _stamp(n.created_at),
            "read_at": _stamp(n.read_at),
        }
        for n in Notification.objects.filter(user_id=user.pk).order_by("-created_at", "-id")
    ]
