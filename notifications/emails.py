"""The email copy of a notification: its title and message, under allauth's subject prefix
and sender, to the user's primary address."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string

from notifications.models import Notification


def _email(notification: Notification) -> EmailMessage:
    context = {"notification": notification, "site_url": settings.SITE_URL.rstrip("/")}
    prefix = getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", "")
    return EmailMessage(
        subject=f"{prefix}{notification.title}",
        body=render_to_string("notifications/email/notification_message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.user.email],
    )


def send_notification_emails(notifications: Sequence[Notification]) -> None:
    """One email per notification whose user has an address, over one mail connection."""
    messages = [_email(n) for n in notifications if n.user.email]
    if messages:
        get_connection().send_messages(messages)
