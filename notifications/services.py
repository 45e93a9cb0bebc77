"""Write side of notifications: ``notify`` stores one, then it is delivered after commit.

Every app calls ``notify`` from its own services, inside their transaction: the row commits
with the change that caused it (or not at all), and only then do the email and the
deliverers registered in ``notifications.delivery`` (the WebSocket) see it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from config.errors import Invalid
from notifications import delivery
from notifications.emails import send_notification_email
from notifications.kinds import Kind
from notifications.models import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH, Notification
from notifications.validation import check_data, check_text

logger = logging.getLogger("roster.notifications")


def notify(
    user,
    kind: str,
    title: str,
    message: str,
    *,
    priority: str = Notification.Priority.MEDIUM,
    data: dict[str, Any] | None = None,
    from_user=None,
) -> Notification:
    """Store a notification for ``user``; after commit, email it if the user's setting for
    ``kind`` says so, then hand it to every registered deliverer."""
    if kind not in Kind.values:
        raise ValueError(f"Unknown notification kind {kind!r}.")
    if priority not in Notification.Priority.values:
        raise Invalid("invalid_choice", f"Unknown priority {priority!r}.", attr="priority")
    title = check_text(title, attr="title", max_length=TITLE_MAX_LENGTH, required=True)
    message = check_text(message, attr="message", max_length=MESSAGE_MAX_LENGTH)
    data = check_data(data)
    notification = Notification.objects.create(
        user=user,
        kind=kind,
        title=title,
        message=message,
        priority=priority,
        data=data,
        from_user=from_user,
    )
    transaction.on_commit(lambda: _deliver(notification))
    return notification


def _deliver(notification: Notification) -> None:
    try:
        if delivery.wants_email(user=notification.user, kind=notification.kind):
            send_notification_email(notification)
    except Exception:
        # The row is stored; a mail server that is down must not hide it from the other doors.
        logger.exception(
            "notification email failed", extra={"notification_id": str(notification.pk)}
        )
    delivery.run_deliverers(notification)


def notifications_send(
    *,
    recipients: Iterable,
    title: str,
    message: str,
    priority: str = Notification.Priority.MEDIUM,
    data: dict[str, Any] | None = None,
    actor,
    request=None,
    target: Any = None,
) -> list[Notification]:
    """A person's message to several users (the caller checked who may reach whom).
    Audit: one ``notification.sent`` naming the recipients' count and the target."""
    recipients = list(recipients)
    with transaction.atomic():
        sent = [
            notify(
                user,
                Kind.MESSAGE,
                title,
                message,
                priority=priority,
                data=data,
                from_user=actor,
            )
            for user in recipients
        ]
        record(
            action="notification.sent",
            actor=actor,
            target=target,
            request=request,
            metadata={"delivered_to": len(sent), "priority": priority, "title": title},
        )
    return sent


def notification_mark_read(*, notification: Notification) -> None:
    """Idempotent: a notification already read keeps its first ``read_at``."""
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
