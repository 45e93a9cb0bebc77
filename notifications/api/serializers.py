from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.schema.request_rules import STRIP_WHITESPACE
from config.api.serializers import QueryParamsSerializer, StrictCharField, StrictFieldsMixin
from notifications.kinds import Kind
from notifications.models import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH, Notification

# The rules of notifications.validation, stated for clients: no control characters (a
# message keeps tabs and line breaks), and something besides whitespace.
_CONTROLS = r"\u0000-\u001f\u007f-\u009f"
_MESSAGE_CONTROLS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
TITLE_PATTERN = rf"^[^{_CONTROLS}]*[^{_CONTROLS}{STRIP_WHITESPACE}][^{_CONTROLS}]*$"
MESSAGE_PATTERN = (
    rf"^[^{_MESSAGE_CONTROLS}]*[^{_MESSAGE_CONTROLS}{STRIP_WHITESPACE}][^{_MESSAGE_CONTROLS}]*$"
)


@extend_schema_field(
    {"type": "string", "minLength": 1, "maxLength": TITLE_MAX_LENGTH, "pattern": TITLE_PATTERN}
)
class TitleField(StrictCharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MESSAGE_MAX_LENGTH,
        "pattern": MESSAGE_PATTERN,
    }
)
class MessageField(StrictCharField):
    pass


class NotificationSenderSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    display_name = serializers.CharField(read_only=True)


class NotificationSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    kind = serializers.ChoiceField(choices=Kind.choices, read_only=True)
    title = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)
    priority = serializers.ChoiceField(choices=Notification.Priority.choices, read_only=True)
    data = serializers.JSONField(
        read_only=True, help_text="What the notification is about (ids, links); an object."
    )
    from_user = NotificationSenderSerializer(
        read_only=True, allow_null=True, help_text="The person who sent it; null for Roster."
    )
    created_at = serializers.DateTimeField(read_only=True)
    read_at = serializers.DateTimeField(read_only=True, allow_null=True)


class NotificationQuerySerializer(QueryParamsSerializer):
    unread = serializers.BooleanField(
        required=False, help_text="`true`: only the notifications not read yet."
    )


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField(min_value=0)


class NotificationSendSerializer(StrictFieldsMixin, serializers.Serializer):
    """A message to one user or to a team: exactly one of `target_user` and `team`."""

    target_user = serializers.UUIDField(
        required=False, help_text="A user's id. Give exactly one of `target_user` and `team`."
    )
    team = serializers.UUIDField(required=False, help_text="A team's id: its members.")
    title = TitleField(min_length=1, max_length=TITLE_MAX_LENGTH)
    message = MessageField(min_length=1, max_length=MESSAGE_MAX_LENGTH)
    priority = serializers.ChoiceField(
        choices=Notification.Priority.choices, default=Notification.Priority.MEDIUM
    )
    data = serializers.DictField(
        required=False, help_text="An object (at most 8 KB of JSON) handed to the recipients."
    )

    def validate(self, attrs):
        if ("target_user" in attrs) == ("team" in attrs):
            raise serializers.ValidationError(
                "Give exactly one of target_user and team.", code="target_required"
            )
        return attrs


class NotificationSendResultSerializer(serializers.Serializer):
    delivered_to = serializers.IntegerField(
        min_value=0, help_text="How many people the notification was stored for."
    )
