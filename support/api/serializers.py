"""Support API bodies: strict request serializers and the ticket object of docs/api.md
("Support tickets"). Messages come already filtered by viewer (``support.selectors``)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from config.api.serializers import (
    QueryParamsSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictFieldsMixin,
)
from support.models import SUBJECT_MAX_LENGTH, TEXT_MAX_LENGTH, Attachment, Message, Ticket

ASSIGNEE_FILTER_RE = (
    r"^(?:me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


# --- responses ----------------------------------------------------------------------------


class SupportUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    display_name = serializers.CharField(help_text="May be empty.")


class MessageSerializer(serializers.ModelSerializer):
    author = SupportUserSerializer(
        allow_null=True, help_text="Null once the author's account is erased."
    )
    internal = serializers.BooleanField(
        help_text="A staff-only note; requesters never see these (always false for them)."
    )

    class Meta:
        model = Message
        fields = ("id", "author", "body", "internal", "created_at")


class AttachmentSerializer(serializers.ModelSerializer):
    uploaded_by = SupportUserSerializer(allow_null=True)
    download_url = serializers.SerializerMethodField(
        help_text="The permission-checked download (`GET …/attachments/{id}`)."
    )

    class Meta:
        model = Attachment
        fields = (
            "id",
            "filename",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "created_at",
            "download_url",
        )

    def get_download_url(self, row: Attachment) -> str:
        return reverse(
            "support-attachment", kwargs={"ticket_id": row.ticket_id, "attachment_id": row.pk}
        )


class TicketSerializer(serializers.ModelSerializer):
    requester = SupportUserSerializer()
    assignee = SupportUserSerializer(allow_null=True)
    messages = MessageSerializer(many=True, help_text="Oldest first.")
    attachments = AttachmentSerializer(many=True, help_text="Oldest first.")

    class Meta:
        model = Ticket
        fields = (
            "id",
            "number",
            "requester",
            "category",
            "priority",
            "subject",
            "description",
            "status",
            "assignee",
            "messages",
            "attachments",
            "created_at",
            "updated_at",
        )


# --- requests -----------------------------------------------------------------------------


class TicketCreateSerializer(StrictSerializer):
    category = serializers.ChoiceField(choices=Ticket.Category.choices)
    priority = serializers.ChoiceField(
        choices=Ticket.Priority.choices, required=False, default=Ticket.Priority.MEDIUM
    )
    subject = StrictCharField(max_length=SUBJECT_MAX_LENGTH)
    description = StrictCharField(max_length=TEXT_MAX_LENGTH)


class TicketUpdateSerializer(StrictSerializer):
    status = serializers.ChoiceField(
        choices=Ticket.Status.choices,
        required=False,
        help_text="Staff: any allowed move. The requester: `closed` only.",
    )
    priority = serializers.ChoiceField(
        choices=Ticket.Priority.choices, required=False, help_text="Staff only."
    )
    assignee = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Staff only: a support staff member's user id, or null to unassign.",
    )


class MessageCreateSerializer(StrictSerializer):
    body = StrictCharField(max_length=TEXT_MAX_LENGTH)
    internal = StrictBooleanField(
        required=False, default=False, help_text="Staff only: a note the requester never sees."
    )


class AttachmentUploadSerializer(StrictSerializer):
    file = serializers.FileField(
        help_text="PNG, JPEG, PDF or plain UTF-8 text, judged by content; at most 5 MB."
    )


class TicketQuerySerializer(QueryParamsSerializer):
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    category = serializers.ChoiceField(choices=Ticket.Category.choices, required=False)
    assignee = serializers.RegexField(
        ASSIGNEE_FILTER_RE,
        max_length=36,
        required=False,
        help_text="A user id, `me` or `none` (unassigned).",
    )
    q = StrictCharField(
        max_length=200,
        required=False,
        help_text="Text in the subject or description, a ticket number (`42`, `#42`); for "
        "staff also the requester's email.",
    )
