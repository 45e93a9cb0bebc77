"""Write side of notifications: ``notify`` stores one, then it is delivered after commit.

Every app calls ``notify`` (``notify_many`` for one notification to many people) from its
own services, inside their transaction: the rows commit with the change that caused them (or
not at all), and only then do the email and the deliverers registered in
``notifications.delivery`` (the WebSocket) see them, as one batch per call.

Roster's own notifications are written in the recipient's language when they are sent: the
caller passes lazily translated text (``gettext_lazy``, or ``format_lazy`` with the values
filled in) and each row stores it in its recipient's profile locale. A notification is a
message of its moment, like the email that may go with it: the page, the API, the WebSocket
and the email then show the same stored words without each needing the catalogue, and rows
stored before (in English) read as they were written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.functional import Promise

from audit.services import record
from config.errors import Invalid
from notifications import audience, delivery
from notifications.emails import send_notification_emails
from notifications.kinds import Kind
from notifications.models import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH, Notification
from notifications.validation import check_data, check_text

logger = logging.getLogger("roster.notifications")

# A notification's title and message: plain text (a person's own words), or text to
# translate (gettext_lazy, format_lazy), written in each recipient's language.
Text = str | Promise


def notify(
    user,
    kind: str,
    title: Text,
    message: Text,
    *,
    priority: str = Notification.Priority.MEDIUM,
    data: dict[str, Any] | None = None,
    from_user=None,
) -> Notification:
    """Store a notification for ``user``; after commit, email it if the user's setting for
    ``kind`` says so, then hand it to every registered deliverer."""
    return notify_many(
        [user], kind, title, message, priority=priority, data=data, from_user=from_user
    )[0]


def notify_many(
    users: Sequence[Any],
    kind: str,
    title: Text,
    message: Text,
    *,
    priority: str = Notification.Priority.MEDIUM,
    data: dict[str, Any] | None = None,
    from_user=None,
) -> list[Notification]:
    """``notify`` for each of ``users`` (the same notification each), stored in one insert
    and delivered as one batch after commit: the email settings of all of them read at
    once, the emails over one connection, one hand-over to each deliverer."""
    if kind not in Kind.values:
        raise ValueError(f"Unknown notification kind {kind!r}.")
    if priority not in Notification.Priority.values:
        raise Invalid("invalid_choice", f"Unknown priority {priority!r}.", attr="priority")
    data = check_data(data)
    texts: dict[str, tuple[str, str]] = {}  # language -> (title, message)

    def written_for(user) -> tuple[str, str]:
        language = _language_of(user)
        if language not in texts:
            with translation.override(language):
                texts[language] = (
                    check_text(
                        str(title), attr="title", max_length=TITLE_MAX_LENGTH, required=True
                    ),
                    check_text(str(message), attr="message", max_length=MESSAGE_MAX_LENGTH),
                )
        return texts[language]

    written_for(None)  # refuse bad text even with no recipient
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                user=user,
                kind=kind,
                title=written_for(user)[0],
                message=written_for(user)[1],
                priority=priority,
                data=data,
                from_user=from_user,
            )
            for user in users
        ]
    )
    if notifications:
        transaction.on_commit(lambda: _deliver(notifications))
    return notifications


def _language_of(user) -> str:
    """The language to write to ``user`` in: their profile's locale when Roster has it."""
    code = getattr(user, "locale", None)
    if isinstance(code, str) and code:
        try:
            return translation.get_supported_language_variant(code.replace("_", "-").lower())
        except LookupError:
            pass
    return settings.LANGUAGE_CODE


def _deliver(notifications: list[Notification]) -> None:
    try:
        wanted = delivery.wanting_email(
            users=[n.user for n in notifications], kind=notifications[0].kind
        )
        send_notification_emails([n for n in notifications if n.user.pk in wanted])
    except Exception:
        # The rows are stored; a mail server that is down must not hide them from the other
        # doors.
        logger.exception(
            "notification email failed",
            extra={"notification_ids": [str(n.pk) for n in notifications[:20]]},
        )
    delivery.run_deliverers(notifications)


def notifications_send(
    *,
    actor,
    title: str,
    message: str,
    target_user_id: Any = None,
    team_id: Any = None,
    priority: str = Notification.Priority.MEDIUM,
    data: dict[str, Any] | None = None,
    request=None,
) -> list[Notification]:
    """A person's message to one user or to a team, a ``message`` notification each.

    Exactly one of ``target_user_id`` and ``team_id``. Who may reach whom is the
    organizations' rule (``notifications.audience``); the sender is not notified of their
    own team message. All or nothing; audit: one ``notification.sent`` naming the target
    and how many were reached.
    """
    if (target_user_id is None) == (team_id is None):
        raise Invalid("target_required", "Give exactly one of target_user and team.")
    # Checked before the audience, so that a bad text is refused even when nobody is reached.
    title = check_text(title, attr="title", max_length=TITLE_MAX_LENGTH, required=True)
    message = check_text(message, attr="message", max_length=MESSAGE_MAX_LENGTH, required=True)
    data = check_data(data)
    if priority not in Notification.Priority.values:
        raise Invalid("invalid_choice", f"Unknown priority {priority!r}.", attr="priority")
    with transaction.atomic():
        reached = audience.resolve(actor=actor, target_user_id=target_user_id, team_id=team_id)
        sent = notify_many(
            reached.recipients,
            Kind.MESSAGE,
            title,
            message,
            priority=priority,
            data=data,
            from_user=actor,
        )
        record(
            action="notification.sent",
            actor=actor,
            target=reached.target,
            request=request,
            metadata={"delivered_to": len(sent), "priority": priority},
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


def notifications_erase_for_user(*, user) -> int:
    """An erased account's notifications go (their texts may name the person); those it sent
    to others stay, no longer naming their sender."""
    Notification.objects.filter(from_user_id=user.pk).update(from_user=None)
    return Notification.objects.filter(user_id=user.pk).delete()[0]
