from __future__ import annotations

import datetime

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditEvent
from audit.personal import attach_revealed, revealed_of
from config.api.serializers import QueryParamsSerializer

TIME_FORMAT = settings.REST_FRAMEWORK["DATETIME_FORMAT"]


class AuditActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AuditEvent.ActorType.choices)
    id = serializers.CharField(allow_null=True, help_text="User or API key id; null for system.")
    display = serializers.CharField(
        allow_null=True, help_text="Email of the user (`[erased]` once erased), key name."
    )


class AuditTargetSerializer(serializers.Serializer):
    type = serializers.CharField(allow_null=True, help_text="e.g. user, slot, apikey, session.")
    id = serializers.CharField(allow_null=True)


class AuditEventListSerializer(serializers.ListSerializer):
    def to_representation(self, data) -> list:
        # The personal values of the whole page are decrypted with one query for their keys.
        events = attach_revealed(data.all() if hasattr(data, "all") else data)
        return [self.child.to_representation(event) for event in events]


class AuditEventSerializer(serializers.Serializer):
    """An event as its readers see it: personal values decrypted (``audit.personal``), or
    ``[erased]`` once the person they are about has been erased."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    occurred_at = serializers.DateTimeField(read_only=True)
    action = serializers.CharField(read_only=True)
    actor = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    ip = serializers.IPAddressField(read_only=True, allow_null=True)
    user_agent = serializers.CharField(read_only=True)
    request_id = serializers.CharField(read_only=True)
    changes = serializers.JSONField(
        read_only=True, help_text="`{field: [before, after]}` for the fields that changed."
    )
    metadata = serializers.JSONField(read_only=True)

    class Meta:
        list_serializer_class = AuditEventListSerializer

    def to_representation(self, event: AuditEvent) -> dict:
        # Plain dict building: a page of 200 events through DRF's per-field machinery costs
        # several milliseconds, this a fraction of one. The declared fields document it.
        shown = revealed_of(event)
        return {
            "id": str(event.uuid),
            "occurred_at": event.occurred_at.astimezone(datetime.UTC).strftime(TIME_FORMAT),
            "action": event.action,
            "actor": self.get_actor(event),
            "target": self.get_target(event),
            "ip": event.ip,
            "user_agent": event.user_agent,
            "request_id": event.request_id,
            "changes": shown.changes,
            "metadata": shown.metadata,
        }

    @extend_schema_field(AuditActorSerializer)
    def get_actor(self, event: AuditEvent) -> dict:
        return {
            "type": event.actor_type,
            "id": event.actor_id or None,
            "display": revealed_of(event).actor_display or None,
        }

    @extend_schema_field(AuditTargetSerializer)
    def get_target(self, event: AuditEvent) -> dict:
        return {"type": event.target_type or None, "id": event.target_id or None}


class BrokenLinkSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="Position in the chain of the first broken link.")
    id = serializers.UUIDField(allow_null=True, help_text="The event there, when it exists.")
    reason = serializers.ChoiceField(
        choices=["seal_mismatch", "missing", "head_mismatch"],
        help_text=(
            "`seal_mismatch`: a sealed field was edited or the row moved; `missing`: a link "
            "was deleted; `head_mismatch`: the last link differs from the recorded head."
        ),
    )


class AuditVerifyQuerySerializer(QueryParamsSerializer):
    from_seq = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**62,
        help_text="Check from this link on (its predecessor's stored seal is trusted).",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000_000,
        help_text="Check at most this many links.",
    )


class AuditVerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField(help_text="Links recomputed.")
    first_broken = BrokenLinkSerializer(required=False, help_text="Present only when not ok.")
    unsealed = serializers.IntegerField(help_text="Events recorded but not sealed yet.")
    checkpoint_seq = serializers.IntegerField(
        help_text="The last link removed by retention; verification starts after it."
    )
    head_seq = serializers.IntegerField(help_text="The last link the sealer wrote.")
