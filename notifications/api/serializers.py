from __future__ import annotations

from rest_framework import serializers

from config.api.serializers import QueryParamsSerializer, StrictCharField, StrictFieldsMixin
from notifications.kinds import Kind
from notifications.models import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH, Notification


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
    target_user = serializers.UUIDField(
        required=False, help_text="A user's id. Give exactly one of `target_user` and `team`."
    )
    team = serializers.UUIDField(required=False, help_text="A team's id: its members.")
    title = StrictCharField(min_length=1, max_length=TITLE_MAX_LENGTH)
    message = StrictCharField(min_length=1, max_length=MESSAGE_MAX_LENGTH)
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
