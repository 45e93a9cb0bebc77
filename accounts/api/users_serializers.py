"""Serializers of the /users API. Field rules live in ``accounts.services.fields`` (shared with the
pages and the admin); these serializers only route input to them and describe the schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import selectors, settings_registry
from accounts.credentials import API_KEY_CHOICES, API_KEYS_RECENT
from accounts.models import PROFILE_FIELDS, ROLE_NAMES, USER_OBJECT_FIELDS, SettingDefinition, User
from accounts.services.bulk import BULK_ACTIONS, BULK_MAX_ITEMS
from accounts.services.fields import (
    CLEANERS,
    TEXT_MAX_LENGTH,
    clean_locale,
    clean_phone,
    clean_timezone,
    clean_username,
    known_locales,
    timezones,
)
from accounts.services.users import SLOT_LIMIT_MAX
from config.api.serializers import StrictCharField, StrictFieldsMixin, StrictIntegerField

PASSWORD_MAX_INPUT = 4096


def _via(cleaner: Callable[[Any], Any], field: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        try:
            return cleaner(value)
        except DjangoValidationError as exc:
            error = exc.error_dict[field][0]
            raise serializers.ValidationError(error.messages[0], code=error.code) from exc

    return run


# What clean_text refuses (control characters, line/paragraph separators), for the schema.
# Non-empty: spectacular documents blank values as a second oneOf branch of its own.
PROFILE_TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]+$"


@extend_schema_field(
    {"type": "string", "maxLength": TEXT_MAX_LENGTH, "pattern": PROFILE_TEXT_PATTERN}
)
class ProfileTextField(StrictCharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "maxLength": 150,
        "pattern": "^[A-Za-z0-9_.-]+$",
        "description": "Letters, digits, dots, dashes and underscores; unique "
        "(case-insensitively). Empty or null clears it.",
    }
)
class UsernameField(StrictCharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 32,
        "pattern": "^\\+[0-9 ().-]{4,31}$",
        "description": "E.164 (`+` and the country code), e.g. +41446681800; spaces, dots, "
        "dashes and brackets are allowed and removed. Must be a valid number for its "
        "country (400 `invalid_phone`). Empty to clear.",
    }
)
class PhoneField(StrictCharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "enum": sorted(timezones()),
        "description": "IANA time zone name, e.g. Europe/Zurich.",
    }
)
class TimezoneField(StrictCharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "enum": sorted(known_locales().values()),
        "description": (
            "The language of the user's pages and emails: one Roster is translated into "
            "(case and `_`/`-` are normalised; a regional variant such as `de-CH` is stored "
            "as its language)."
        ),
    }
)
class LocaleField(StrictCharField):
    pass


def _text(**kwargs) -> ProfileTextField:
    return ProfileTextField(max_length=TEXT_MAX_LENGTH, allow_blank=True, **kwargs)


class ProfileFieldsMixin(serializers.Serializer):
    """The writable profile fields and their validation (shared by /me and bulk create)."""

    username = UsernameField(max_length=150, allow_blank=True, allow_null=True)
    display_name = _text()
    first_name = _text()
    last_name = _text()
    phone = PhoneField(max_length=32, allow_blank=True)
    department = _text()
    timezone = TimezoneField(max_length=64)
    locale = LocaleField(max_length=16)

    validate_username = staticmethod(_via(clean_username, "username"))
    validate_display_name = staticmethod(_via(CLEANERS["display_name"], "display_name"))
    validate_first_name = staticmethod(_via(CLEANERS["first_name"], "first_name"))
    validate_last_name = staticmethod(_via(CLEANERS["last_name"], "last_name"))
    validate_department = staticmethod(_via(CLEANERS["department"], "department"))
    validate_phone = staticmethod(_via(clean_phone, "phone"))
    validate_timezone = staticmethod(_via(clean_timezone, "timezone"))
    validate_locale = staticmethod(_via(clean_locale, "locale"))


class UserSerializer(StrictFieldsMixin, ProfileFieldsMixin):
    """The user object. On PUT every writable field is required; PATCH takes any subset."""

    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(
        read_only=True, help_text="Changed through the email management pages (verified)."
    )
    status = serializers.ChoiceField(choices=User.Status.choices, read_only=True)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=ROLE_NAMES), read_only=True)
    email_verified = serializers.BooleanField(read_only=True)
    mfa_enabled = serializers.BooleanField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        fields = USER_OBJECT_FIELDS

    def to_representation(self, instance: User) -> dict[str, Any]:
        return selectors.user_as_dict(instance)


class UserAdminSerializer(StrictFieldsMixin, serializers.Serializer):
    """The user object as managers and admins see it: plus ``slot_limit``.

    PATCH (admins): ``status``, ``roles`` and ``slot_limit``; every other field is read-only.
    """

    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)
    username = serializers.CharField(read_only=True, allow_null=True)
    display_name = serializers.CharField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    phone = serializers.CharField(read_only=True)
    department = serializers.CharField(read_only=True)
    timezone = serializers.CharField(read_only=True)
    locale = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=User.Status.choices, required=False)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ROLE_NAMES),
        min_length=1,
        max_length=len(ROLE_NAMES),
        required=False,
        help_text="Replaces the user's roles.",
    )
    slot_limit = StrictIntegerField(
        min_value=0,
        max_value=SLOT_LIMIT_MAX,
        allow_null=True,
        required=False,
        help_text="Live slots this user may hold; null uses each slot type's default.",
    )
    email_verified = serializers.BooleanField(read_only=True)
    mfa_enabled = serializers.BooleanField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, instance: User) -> dict[str, Any]:
        return selectors.user_as_dict(instance, admin_fields=True)


class PasswordChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    current_password = StrictCharField(max_length=PASSWORD_MAX_INPUT, trim_whitespace=False)
    new_password = StrictCharField(
        max_length=PASSWORD_MAX_INPUT,
        trim_whitespace=False,
        help_text="Checked by the password validators (length, similarity, common, numeric).",
    )
    revoke_api_keys = serializers.ChoiceField(
        choices=list(API_KEY_CHOICES),
        default=API_KEYS_RECENT,
        help_text=(
            "Which of your API keys stop working: `recent` (the default) the keys created in "
            "the last 24 hours, `all` every key, `none` none."
        ),
    )


class AccountDeleteSerializer(StrictFieldsMixin, serializers.Serializer):
    password = StrictCharField(
        max_length=PASSWORD_MAX_INPUT,
        trim_whitespace=False,
        required=False,
        help_text=(
            "The account's password. May be left out only by a browser session that has just "
            "reauthenticated (or an account without a password)."
        ),
    )


class SettingSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.JSONField(help_text="The user's value, or the default when unset.")
    type = serializers.ChoiceField(choices=SettingDefinition.Type.choices)
    category = serializers.CharField()
    description = serializers.CharField()
    is_public = serializers.BooleanField()
    default = serializers.JSONField()


class SettingsPatchSerializer(serializers.Serializer):
    """``{key: value}`` of the settings registry; ``null`` resets a key to its default.

    The OpenAPI schema is built from the setting definitions when the schema is generated
    (``SettingsObjectExtension``), so it lists the keys and value rules in force.
    """

    category: str | None = None


class PreferencesPatchSerializer(SettingsPatchSerializer):
    category = "preferences"


class PreferencesSerializer(SettingsPatchSerializer):
    """The flat ``{key: value}`` of the settings in category ``preferences``."""

    category = "preferences"


class SettingsObjectExtension(OpenApiSerializerExtension):
    target_class = "accounts.api.users_serializers.SettingsPatchSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        return settings_object_schema(self.target_class_category(), nullable=direction == "request")

    def target_class_category(self) -> str | None:
        target = self.target if isinstance(self.target, type) else type(self.target)
        return target.category


def settings_object_schema(category: str | None, *, nullable: bool) -> dict[str, Any]:
    definitions = SettingDefinition.objects.order_by("key")
    if category is not None:
        definitions = definitions.filter(category=category)
    try:
        properties = {}
        for definition in definitions:
            schema = settings_registry.openapi_schema(definition)
            # Wrapped, so spectacular's enum hook leaves registry values inline (they are
            # data, not components: a key named like a field would collide by name).
            wrapped: dict[str, Any] = {"allOf": [schema]}
            if "description" in schema:
                wrapped["description"] = schema.pop("description")
            if nullable:
                wrapped["nullable"] = True
            properties[definition.key] = wrapped
    except DatabaseError:
        # No database while generating the schema (a bare `manage.py spectacular`).
        return {"type": "object", "additionalProperties": {}}
    return {"type": "object", "properties": properties, "additionalProperties": False}


# --- bulk ------------------------------------------------------------------------------


class BulkUserItemSerializer(StrictFieldsMixin, ProfileFieldsMixin):
    """One user of a bulk request. Which fields apply depends on the action:
    ``create``: ``email`` (required), ``password``, ``roles``, ``slot_limit`` and profile fields;
    ``update``: ``id`` (required), ``status``, ``roles``, ``slot_limit``;
    ``deactivate`` and ``delete``: ``id`` only."""

    id = serializers.UUIDField(required=False)
    email = serializers.EmailField(required=False, max_length=254)
    password = StrictCharField(
        required=False, write_only=True, trim_whitespace=False, max_length=PASSWORD_MAX_INPUT
    )
    status = serializers.ChoiceField(choices=User.Status.choices, required=False)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ROLE_NAMES),
        min_length=1,
        max_length=len(ROLE_NAMES),
        required=False,
    )
    slot_limit = StrictIntegerField(
        min_value=0, max_value=SLOT_LIMIT_MAX, allow_null=True, required=False
    )

    def get_fields(self):
        fields = super().get_fields()
        for name in PROFILE_FIELDS:
            fields[name].required = False
        return fields


BULK_FIELDS = {
    "create": {"email", "password", "roles", "slot_limit", *PROFILE_FIELDS},
    "update": {"id", "status", "roles", "slot_limit"},
    "deactivate": {"id"},
    "delete": {"id"},
}
BULK_REQUIRED = {"create": "email", "update": "id", "deactivate": "id", "delete": "id"}


class BulkRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    users = BulkUserItemSerializer(many=True, allow_empty=False, max_length=BULK_MAX_ITEMS)

    def validate(self, attrs):
        action = attrs["action"]
        allowed, required = BULK_FIELDS[action], BULK_REQUIRED[action]
        errors: dict[str, list] = {}
        for index, item in enumerate(attrs["users"]):
            for key in sorted(set(item) - allowed):
                errors[f"users.{index}.{key}"] = [
                    serializers.ErrorDetail(
                        f"Not accepted by the {action} action.", code="unknown_field"
                    )
                ]
            if required not in item:
                errors[f"users.{index}.{required}"] = [
                    serializers.ErrorDetail("This field is required.", code="required")
                ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class BulkResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.UUIDField()
    result = serializers.ChoiceField(
        choices=["created", "updated", "deactivated", "deletion_scheduled"]
    )


class BulkResponseSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    count = serializers.IntegerField()
    results = BulkResultSerializer(many=True)


# --- export (schema only: the document is built by accounts.export.user_export) -------


class ExportSerializer(serializers.Serializer):
    exported_at = serializers.DateTimeField()
    format = serializers.CharField()
    profile = serializers.DictField(help_text="The user object plus slot_limit and dates.")
    email_addresses = serializers.ListField(child=serializers.DictField())
    settings = SettingSerializer(many=True)
    mfa = serializers.ListField(
        child=serializers.DictField(), help_text="Second factors: type and dates, no secrets."
    )
    social_accounts = serializers.ListField(child=serializers.DictField())
    sessions = serializers.DictField(help_text="{web: [...], api: [...]}, no session keys.")
    api_keys = serializers.ListField(
        child=serializers.DictField(), help_text="Metadata only; secrets are never stored."
    )
    slots = serializers.ListField(child=serializers.DictField())
    usage = serializers.DictField()
    audit_events = serializers.ListField(
        child=serializers.DictField(), help_text="Events where the user is actor or target."
    )
