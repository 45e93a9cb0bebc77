"""Security policy bodies: one field per field of the policy type (access.policies.types),
with its bounds stated in the schema."""

from __future__ import annotations

from rest_framework import serializers

from access.policies.types import POLICY_TYPES
from config.api.serializers import StrictBooleanField, StrictFieldsMixin, StrictIntegerField


def _field(f, **kwargs) -> serializers.Field:
    if f.kind is bool:
        return StrictBooleanField(help_text=f.help, **kwargs)
    if f.kind is str:
        return serializers.ChoiceField(choices=list(f.choices), help_text=f.help, **kwargs)
    return StrictIntegerField(min_value=f.minimum, max_value=f.maximum, help_text=f.help, **kwargs)


def _body(policy_type: str) -> type[serializers.Serializer]:
    """PUT body: every field of the policy type, required."""
    name = f"{policy_type.title()}PolicySerializer"
    fields = {f.name: _field(f) for f in POLICY_TYPES[policy_type]}
    return type(name, (StrictFieldsMixin, serializers.Serializer), fields)


def _answer(policy_type: str) -> type[serializers.Serializer]:
    """GET/PUT answer: the values, and where they come from."""
    name = f"{policy_type.title()}PolicyResponseSerializer"
    fields = {
        **{f.name: _field(f, read_only=True) for f in POLICY_TYPES[policy_type]},
        "policy_type": serializers.ChoiceField(choices=[policy_type], read_only=True),
        "inherited": serializers.BooleanField(
            read_only=True,
            help_text="True when no policy of its own is stored: an organization's is then "
            "the platform's, the platform's the defaults.",
        ),
        "updated_at": serializers.DateTimeField(read_only=True, allow_null=True),
    }
    return type(name, (serializers.Serializer,), fields)


BODIES = {t: _body(t) for t in POLICY_TYPES}
ANSWERS = {t: _answer(t) for t in POLICY_TYPES}
