from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from config.api.serializers import StrictCharField, StrictFieldsMixin
from slots.lifecycle import SlotStatus
from slots.models import SLOT_NAME_MAX_LENGTH, CredentialKind, Slot, SlotType
from slots.selectors import credentials_summary
from slots.services import CREDENTIAL_MAX_LENGTH


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    """Request bodies: unknown keys are 400 ``unknown_field`` (the API-wide rule)."""


@extend_schema_field({"type": "object", "additionalProperties": True})
class ConfigField(serializers.JSONField):
    """A JSON object validated against the slot type's ``config_schema``."""


class SlotTypeSerializer(serializers.ModelSerializer):
    config_schema = ConfigField(read_only=True, help_text="JSON Schema of the slot config.")
    credential_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=CredentialKind.choices), read_only=True
    )

    class Meta:
        model = SlotType
        fields = (
            "key",
            "name",
            "description",
            "config_schema",
            "default_limit",
            "credential_kinds",
            "requires_provisioning",
        )
        read_only_fields = fields


class SlotCredentialsSummarySerializer(serializers.Serializer):
    configured = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=CredentialKind.choices, allow_null=True)
    hint = serializers.CharField(
        allow_null=True,
        help_text="Last 4 characters of the api_key, password or client_secret (null for "
        "secrets shorter than 12 characters).",
    )
    updated_at = serializers.DateTimeField(allow_null=True)


class SlotSerializer(serializers.ModelSerializer):
    owner = serializers.UUIDField(source="owner_id", read_only=True, help_text="The owner's id.")
    type = serializers.SlugRelatedField(slug_field="key", read_only=True)
    status = serializers.ChoiceField(choices=SlotStatus.choices, read_only=True)
    config = ConfigField(read_only=True)
    credentials = serializers.SerializerMethodField()

    class Meta:
        model = Slot
        fields = (
            "id",
            "owner",
            "type",
            "name",
            "status",
            "config",
            "credentials",
            "created_at",
            "updated_at",
            "last_active_at",
            "released_at",
        )
        read_only_fields = fields

    @extend_schema_field(SlotCredentialsSummarySerializer)
    def get_credentials(self, obj: Slot) -> dict:
        return credentials_summary(obj)


class SlotCreateSerializer(StrictSerializer):
    type = StrictCharField(max_length=64, help_text="A slot type key (GET /slot-types).")
    name = StrictCharField(max_length=SLOT_NAME_MAX_LENGTH)
    config = ConfigField(required=False, default=dict)
    owner = serializers.UUIDField(
        required=False, help_text="Admins only: create the slot for this user."
    )


class SlotUpdateSerializer(StrictSerializer):
    name = StrictCharField(max_length=SLOT_NAME_MAX_LENGTH, required=False)
    config = ConfigField(required=False, help_text="Replaces the whole config.")


def _secret(**kwargs) -> serializers.CharField:
    return StrictCharField(
        max_length=CREDENTIAL_MAX_LENGTH, trim_whitespace=False, write_only=True, **kwargs
    )


class ApiKeyCredentialsSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=CredentialKind.choices)
    api_key = _secret()


class BasicCredentialsSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=CredentialKind.choices)
    username = _secret()
    password = _secret()


class OAuthCredentialsSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=CredentialKind.choices)
    client_id = _secret()
    client_secret = _secret()
    access_token = _secret(required=False)
    refresh_token = _secret(required=False)


CREDENTIAL_SERIALIZERS = {
    "api_key": ApiKeyCredentialsSerializer,
    "basic": BasicCredentialsSerializer,
    "oauth": OAuthCredentialsSerializer,
}

SlotCredentialsRequest = PolymorphicProxySerializer(
    component_name="SlotCredentials",
    serializers=CREDENTIAL_SERIALIZERS,
    resource_type_field_name="kind",
)


class SlotErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine code, e.g. invalid_config, name_taken, slot_quota_exceeded, "
        "invalid_transition, slot_released, credential_kind_not_accepted, insufficient_scope."
    )
    detail = serializers.CharField()
    attr = serializers.CharField(
        allow_null=True, help_text="The field or JSON path at fault, e.g. `config.cpu`."
    )


class SlotErrorResponseSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="validation_error | client_error | server_error")
    errors = SlotErrorSerializer(many=True)
