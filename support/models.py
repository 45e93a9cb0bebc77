"""Support tickets: a requester's ticket, the conversation on it and its attachments.

A ticket's ``id`` is opaque (a UUID) like every other object of the API; ``number`` is the
short sequential reference people say on the phone ("ticket 42"). Status moves and every
other write live in ``support.services``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext_lazy as _

SUBJECT_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 10_000
FILENAME_MAX_LENGTH = 200


def attachment_storage() -> FileSystemStorage:
    """Files under ``SUPPORT_ATTACHMENT_DIR``, outside every web root, with no URL: they are
    read only by the permission-checked views (``support.api.views``, ``support.views``)."""
    return FileSystemStorage(location=settings.SUPPORT_ATTACHMENT_DIR, base_url=None)


class Ticket(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending (waiting on the requester)")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    class Category(models.TextChoices):
        TECHNICAL = "technical", _("Technical")
        ACCOUNT = "account", _("Account")
        BILLING = "billing", _("Billing")
        ACCESS = "access", _("Access")
        OTHER = "other", _("Other")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.PositiveIntegerField(unique=True, editable=False)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_tickets"
    )
    category = models.CharField(max_length=20, choices=Category.choices)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH)
    description = models.TextField(max_length=TEXT_MAX_LENGTH)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_assigned_tickets",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-number")
        permissions = [("manage", "Manage every support ticket (support staff)")]
        indexes = [
            models.Index(fields=["status", "priority"], name="support_ticket_queue_idx"),
            models.Index(fields=["requester", "-created_at"], name="support_ticket_req_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    # Kept when the author's account is erased (the conversation stays readable), unnamed.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_messages",
    )
    body = models.TextField(max_length=TEXT_MAX_LENGTH)
    # Staff-only note: never shown to the requester, through any door.
    internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"Message on #{self.ticket.number}"


class Attachment(models.Model):
    class ContentType(models.TextChoices):
        PNG = "image/png", "PNG image"
        JPEG = "image/jpeg", "JPEG image"
        PDF = "application/pdf", "PDF document"
        TEXT = "text/plain", "Plain text"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_attachments",
    )
    filename = models.CharField(max_length=FILENAME_MAX_LENGTH)
    content_type = models.CharField(max_length=40, choices=ContentType.choices)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(storage=attachment_storage, max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.filename
