"""The email copy of a notification: its title and message, under allauth's subject prefix
and sender, to the user's primary address."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from notifications.models import Notification


def send_notification_email(notification: Notification) -> None:
    user = notification.user
    if not user.email:
        return
    context = {"notification": notification, "site_url": settings.SITE_URL.rstrip("/")}
    prefix = getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", "")
    send_mail(
        subject=f"{prefix}{notification.title}",
        message=render_to_string("notifications/email/notification_message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
