"""Request and response shapes of the sign-in door (/auth/*, /users/me/sessions, api-keys)."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from accounts.models import ApiKey
from config.api.permissions import API_KEY_SCOPES
from config.api.serializers import StrictCharField


class StrictSerializer(serializers.Serializer):
    """Unknown request keys are 400 ``unknown_field`` (the API-wide rule)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = {
                str(k): [ErrorDetail("Unknown field.", code="unknown_field")]
                for k in data
                if k not in self.fields or self.fields[k].read_only
            }
            if unknown:
                raise serializers.ValidationError(unknown)
        return super().to_internal_value(data)


# An organization's id (a UUID) or slug; empty: none.
ORGANIZATION_REF_RE = (
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?)$"
)


@extend_schema_field(
    {"type": "string", "pattern": ORGANIZATION_REF_RE, "maxLength": 50},
)
class OrganizationRefField(serializers.RegexField):
    """An organization's id or slug, as a JSON string (no ``123`` turned into ``"123"``);
    the schema states the pattern."""

    def __init__(self, **kwargs):
        super().__init__(
            ORGANIZATION_REF_RE,
            max_length=50,
            required=False,
            allow_null=True,
            allow_blank=True,
            trim_whitespace=False,
            **kwargs,
        )

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _organization_field(help_text: str) -> OrganizationRefField:
    return OrganizationRefField(help_text=help_text)


_ORG_AT_LOGIN = (
    "The active organization of the session's access tokens (claims `org`, `org_roles`, "
    "`permissions`): its id or slug. Left out, null or empty: none. You must be an active "
    "member of it, and it must not be archived (else 400 `organization_unavailable`)."
)


def _password_field(**kwargs) -> serializers.CharField:
    # Bounded here, before any hashing can happen.
    return StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        style={"input_type": "password"},
        write_only=True,
        **kwargs,
    )


class TokenRequestSerializer(StrictSerializer):
    email = StrictCharField(max_length=254, required=False, trim_whitespace=True)
    username = StrictCharField(max_length=150, required=False, trim_whitespace=True)
    password = _password_field()
    organization = _organization_field(_ORG_AT_LOGIN)

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("username"):
            raise serializers.ValidationError(
                {"email": [ErrorDetail("Give your email address (or username).", code="required")]}
            )
        return attrs


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="RS256 access token (JWT), lifetime `expires_in`.")
    refresh = serializers.CharField(help_text="Refresh token; single use (rotated).")
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    session_id = serializers.UUIDField(help_text="The API session these tokens belong to.")


class MfaRequiredSerializer(serializers.Serializer):
    mfa_required = serializers.BooleanField()
    mfa_token = serializers.CharField(
        help_text="Short-lived (5 minutes), single-use ticket for `POST /auth/token/mfa`."
    )
    methods = serializers.ListField(
        child=serializers.ChoiceField(choices=["totp", "sms", "recovery_codes"]),
        help_text="Second factors usable through the API.",
    )


class PasswordChangeRequiredSerializer(serializers.Serializer):
    password_change_required = serializers.BooleanField()
    password_change_token = serializers.CharField(
        help_text="Short-lived (5 minutes), single-use ticket for `POST /auth/token/password`."
    )


class TokenPasswordRequestSerializer(StrictSerializer):
    password_change_token = StrictCharField(max_length=128)
    new_password = _password_field()


class MfaRequestSerializer(StrictSerializer):
    mfa_token = StrictCharField(max_length=128)
    code = StrictCharField(
        max_length=64,
        help_text="A TOTP code, an SMS code (`POST /auth/token/mfa/sms`) or a recovery code.",
    )
    organization = _organization_field(
        _ORG_AT_LOGIN + " Name it here: the first step only checks it."
    )


class RefreshRequestSerializer(StrictSerializer):
    refresh = StrictCharField(max_length=8192)
    organization = _organization_field(
        "Switch the active organization (id or slug). Left out: keep the session's, with its "
        "roles and permissions read again. Null or empty: clear it (tokens without `org`). "
        "One you are not an active member of, or an archived one, is 400 "
        "`organization_unavailable` and the refresh token stays unspent."
    )


class StatusUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class StatusSerializer(serializers.Serializer):
    authenticated = serializers.BooleanField()
    user = StatusUserSerializer()
    method = serializers.ChoiceField(choices=["jwt", "api_key", "session"])
    session_id = serializers.UUIDField(
        allow_null=True, help_text="API session (JWT) or web session id; null for API keys."
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=API_KEY_SCOPES),
        help_text="What the credential may do; JWT and session callers hold every scope.",
    )
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When this credential stops working (null: never)."
    )
    mfa_enabled = serializers.BooleanField()
    email_verified = serializers.BooleanField()


class RegisterSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = _password_field()
    username = StrictCharField(max_length=150, required=False, allow_null=True, allow_blank=True)
    display_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")


class PasswordResetSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["web", "api"])
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField(allow_blank=True)
    current = serializers.BooleanField()


class ApiKeySerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=API_KEY_SCOPES))
    prefix = serializers.CharField(
        source="shown_prefix",
        help_text="How the key begins (`rst_` and its public part), to match a key to its row.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
            "last_used_ip",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=API_KEY_SCOPES),
        min_length=1,
        max_length=len(API_KEY_SCOPES),
        help_text="What the key may do; a key never does more than its owner may.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Optional expiry (RFC 3339, in the future)."
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        help_text="The secret (`rst_…`). Shown this once; Roster keeps only its digest."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class JwkSerializer(serializers.Serializer):
    kty = serializers.ChoiceField(choices=["RSA"])
    use = serializers.ChoiceField(choices=["sig"])
    alg = serializers.ChoiceField(choices=["RS256"])
    kid = serializers.CharField(help_text="RFC 7638 thumbprint of the key.")
    n = serializers.CharField()
    e = serializers.CharField()


class JwksSerializer(serializers.Serializer):
    keys = JwkSerializer(many=True)
