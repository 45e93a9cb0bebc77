"""Security policy bodies: one field per field of the policy type (access.policies.types),
with its bounds stated in the schema."""

from __future__ import annotations

from rest_framework import serializers

from access.policies.types import PASSWORD, POLICY_TYPES
from config.api.serializers import StrictFieldsMixin, StrictIntegerField


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false: no ``"true"``, no ``1``."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def _field(f, **kwargs) -> serializers.Field:
    if f.kind is bool:
        return StrictBooleanField(help_text=f.help, **kwargs)
    return StrictIntegerField(min_value=f.minimum, max_value=f.maximum, help_text=f.help, **kwargs)


class _PasswordPolicy(StrictFieldsMixin, serializers.Serializer):
    pass


# PUT body: every field of the password policy, required.
PasswordPolicySerializer = type(
    "PasswordPolicySerializer",
    (_PasswordPolicy,),
    {f.name: _field(f) for f in POLICY_TYPES[PASSWORD]},
)

# GET/PUT answer: the values, and where they come from.
PasswordPolicyResponseSerializer = type(
    "PasswordPolicyResponseSerializer",
    (serializers.Serializer,),
    {
        **{f.name: _field(f, read_only=True) for f in POLICY_TYPES[PASSWORD]},
        "policy_type": serializers.ChoiceField(choices=list(POLICY_TYPES), read_only=True),
        "inherited": serializers.BooleanField(
            read_only=True,
            help_text="True when the organization has no policy of its own and the "
            "platform's applies (or, for the platform, when the defaults apply).",
        ),
        "updated_at": serializers.DateTimeField(read_only=True, allow_null=True),
    },
)

BODIES = {PASSWORD: PasswordPolicySerializer}
