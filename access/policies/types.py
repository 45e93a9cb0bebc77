"""What each policy type holds: its fields, their bounds and defaults, and which way is
stricter. One table read by the services (validation, "weaker than the platform"), the
selectors (the strictest of several), the API serializers and the admin form."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.flows.limits import LOGIN_FAILED, rates

PASSWORD = "password"  # noqa: S105 - a policy type, not a secret
LOCKOUT = "lockout"


@dataclass(frozen=True)
class Field:
    name: str
    kind: type  # int or bool
    help: str
    default: Callable[[], Any]
    minimum: int = 0
    maximum: int = 0
    lower_is_stricter: bool = False

    def stricter(self, a: Any, b: Any) -> Any:
        """The stricter of two values (True for a requirement; the larger number, or the
        smaller one where fewer is stricter)."""
        if self.kind is bool:
            return a or b
        return min(a, b) if self.lower_is_stricter else max(a, b)

    def is_weaker(self, value: Any, than: Any) -> bool:
        return self.stricter(value, than) != value


PASSWORD_FIELDS: tuple[Field, ...] = (
    Field(
        "min_length",
        int,
        "The fewest characters a password may have.",
        lambda: settings.PASSWORD_MIN_LENGTH,
        minimum=1,
        maximum=128,
    ),
    Field("require_uppercase", bool, "At least one upper-case letter.", lambda: False),
    Field("require_lowercase", bool, "At least one lower-case letter.", lambda: False),
    Field("require_numbers", bool, "At least one digit.", lambda: False),
    Field(
        "require_special",
        bool,
        "At least one character other than a letter or a digit.",
        lambda: False,
    ),
    Field(
        "history",
        int,
        "Refuse the last N passwords, the current one included (0: no history).",
        lambda: 0,
        minimum=0,
        maximum=24,
    ),
)


def _settings_lockout():
    """The per-account rate of ACCOUNT_RATE_LIMITS["login_failed"] (the default policy)."""
    found = rates(LOGIN_FAILED, per="key")
    return found[0] if found else None


LOCKOUT_FIELDS: tuple[Field, ...] = (
    Field(
        "max_failures",
        int,
        "Failed sign-ins of one account allowed within the window; the next is refused "
        "(429) until the window has passed.",
        lambda: _settings_lockout().amount if _settings_lockout() else 1_000_000,
        minimum=1,
        maximum=1_000_000,
        lower_is_stricter=True,
    ),
    Field(
        "window_minutes",
        int,
        "The window failed sign-ins are counted in, in minutes.",
        lambda: max(1, math.ceil(_settings_lockout().duration / 60)) if _settings_lockout() else 1,
        minimum=1,
        maximum=10_080,
    ),
)

POLICY_TYPES: dict[str, tuple[Field, ...]] = {PASSWORD: PASSWORD_FIELDS, LOCKOUT: LOCKOUT_FIELDS}


def defaults(policy_type: str) -> dict[str, Any]:
    return {f.name: f.default() for f in POLICY_TYPES[policy_type]}


def strictest(policy_type: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """Field by field, the strictest of ``values`` (each a complete policy)."""
    out = dict(values[0])
    for other in values[1:]:
        for f in POLICY_TYPES[policy_type]:
            out[f.name] = f.stricter(out[f.name], other[f.name])
    return out
