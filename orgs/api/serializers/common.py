"""What the organization API's bodies share: the strict request base, the input rules
stated where the schema reads them, the vocabulary key fields (one schema component each),
``ExactlyOneOf`` and the user reference of the responses."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from config.api.schema.request_rules import STRIP_WHITESPACE
from config.api.serializers import StrictCharField, StrictFieldsExtension, StrictFieldsMixin
from orgs.catalogue import ALL_PERMISSIONS, TEAM_PERMISSIONS
from orgs.models import ROLE_KEY_RE, SLUG_RE


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


# The services enforce these rules (orgs.services.rules.clean_text and clean_email,
# .domains.clean_domain, .organizations.clean_slug, .roles, the catalogue), one source each,
# with their own codes; here they are only stated, for the schema, on the raw value as sent.
# The services trim whitespace before checking, so the patterns allow str.strip()'s whitespace
# around a value. tests/orgs/test_api_input_rules.py holds each pattern to its service.

_WS = f"[{STRIP_WHITESPACE}]*"
# clean_text refuses control characters (a line break aside) and the line and paragraph
# separators (and surrogates, which only a lone JSON escape can carry: every CharField refuses
# those, and no regex dialect reads them alike).
_BAD = r"\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029"
_EDGE = f"[^{_BAD}{STRIP_WHITESPACE}]"
_TEXT = f"{_EDGE}(?:[^{_BAD}]*{_EDGE})?"
TEXT_PATTERN = f"^{_WS}{_TEXT}{_WS}$"
# Where blank is allowed the schema says so in a branch of its own (``maxLength: 0``), so
# this one leaves out the empty string: whitespace alone (trimmed to blank) or text.
OPTIONAL_TEXT_PATTERN = f"^(?:{_WS}{_TEXT}{_WS}|[{STRIP_WHITESPACE}]+)$"
SLUG_PATTERN = f"^{_WS}{SLUG_RE.strip('^$')}{_WS}$"
# clean_domain lower-cases (the Kelvin sign lower-cases to "k"), drops trailing dots, and
# wants two labels or more whose last is not all digits.
_LABEL = r"[a-zA-Z0-9\u212a](?:[a-zA-Z0-9\u212a-]{0,61}[a-zA-Z0-9\u212a])?"
DOMAIN_PATTERN = f"^{_WS}(?:{_LABEL}\\.)+(?![0-9]+\\.*{_WS}$){_LABEL}\\.*{_WS}$"


class StatedCharField(StrictCharField):
    """A string whose rule a service enforces; ``stated`` (a pattern or a format) is added to
    the field's schema."""

    def __init__(self, *, stated: dict, **kwargs):
        self.stated = stated
        super().__init__(**kwargs)


class StatedCharFieldExtension(OpenApiSerializerFieldExtension):
    target_class = StatedCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema.update(self.target.stated)
        return schema


def text_field(max_length: int, *, required: bool = True, **kwargs) -> StatedCharField:
    """A name, title or description (``clean_text``: 400 ``invalid_characters``)."""
    if not required:
        kwargs.setdefault("allow_blank", True)
    pattern = OPTIONAL_TEXT_PATTERN if kwargs.get("allow_blank") else TEXT_PATTERN
    return StatedCharField(
        stated={"pattern": pattern}, max_length=max_length, required=required, **kwargs
    )


def email_field(**kwargs) -> StatedCharField:
    """An email address (``clean_email``: Django's validator, 400 ``invalid_email``)."""
    return StatedCharField(stated={"format": "email"}, max_length=254, **kwargs)


def domain_field(**kwargs) -> StatedCharField:
    """A domain name (``clean_domain``: 400 ``invalid_domain``)."""
    return StatedCharField(stated={"pattern": DOMAIN_PATTERN}, max_length=253, **kwargs)


def slug_field(**kwargs) -> StatedCharField:
    """An organization's slug (``clean_slug``: 400 ``invalid_slug``)."""
    return StatedCharField(stated={"pattern": SLUG_PATTERN}, max_length=50, **kwargs)


class KeyField(StrictCharField):
    """A key from a vocabulary, documented once as a schema component of its own (a bare enum
    would be named after each property that uses it, and collide). Not trimmed: the key sent
    is the key looked up."""

    component_name: str
    component_schema: dict

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)


class PermissionKeyField(KeyField):
    component_name = "PermissionKey"
    component_schema = {
        "type": "string",
        "enum": sorted(ALL_PERMISSIONS),
        "description": "A key of the permission catalogue (GET /permissions); any other is "
        "400 `unknown_permission`.",
    }


class TeamPermissionKeyField(KeyField):
    component_name = "TeamPermissionKey"
    component_schema = {
        "type": "string",
        "enum": sorted(TEAM_PERMISSIONS),
        "description": "A permission a team membership may add inside its team; any other "
        "is 400 `unknown_permission` or `not_a_team_permission`.",
    }


class RoleKeyField(KeyField):
    component_name = "RoleKey"
    component_schema = {
        "type": "string",
        "maxLength": 40,
        "pattern": ROLE_KEY_RE,
        "description": "A built-in role's key or one of the organization's custom roles' "
        "(GET /orgs/{id}/roles); which exist is data (400 `unknown_role`).",
    }


class KeyFieldExtension(OpenApiSerializerFieldExtension):
    target_class = KeyField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = type(self.target)
        component = ResolvedComponent(
            name=field.component_name,
            type=ResolvedComponent.SCHEMA,
            object=field.component_name,
            schema=field.component_schema,
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def _keys(child: KeyField, **kwargs) -> serializers.ListField:
    return serializers.ListField(child=child, max_length=100, **kwargs)


def permissions_field(**kwargs) -> serializers.ListField:
    return _keys(PermissionKeyField(), **kwargs)


def team_permissions_field(**kwargs) -> serializers.ListField:
    return _keys(TeamPermissionKeyField(), **kwargs)


def roles_field(**kwargs) -> serializers.ListField:
    return _keys(RoleKeyField(max_length=40), **kwargs)


class ExactlyOneOf:
    """Names its subject by exactly one of two fields."""

    exactly_one_of: tuple[str, str]

    def validate(self, attrs):
        if sum(name in attrs for name in self.exactly_one_of) != 1:
            first, second = self.exactly_one_of
            raise serializers.ValidationError(
                {first: [serializers.ErrorDetail(f"Give {first} or {second}.", code="required")]}
            )
        return super().validate(attrs)


class ExactlyOneOfExtension(OpenApiSerializerExtension):
    """The strict body's schema, plus a ``oneOf`` of the two ``required``: exactly one."""

    target_class = ExactlyOneOf
    match_subclasses = True
    priority = StrictFieldsExtension.priority + 1

    def map_serializer(self, auto_schema, direction):
        schema = StrictFieldsExtension(self.target).map_serializer(auto_schema, direction)
        if direction == "request":
            schema["oneOf"] = [{"required": [name]} for name in self.target.exactly_one_of]
        return schema


class UserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
