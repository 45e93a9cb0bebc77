"""Access's named values in the reader's language: ``{{ policy_type|policy_type_name }}``."""

from __future__ import annotations

from django import template

from access.policies.types import TYPE_NAMES

register = template.Library()


@register.filter
def policy_type_name(policy_type: str) -> str:
    """A policy type (``password``, ``lockout``, ``mfa``, ``session``) in words, lower case
    as inside a sentence ("the password policy"); an unknown type as it is."""
    return str(TYPE_NAMES.get(policy_type, policy_type))
