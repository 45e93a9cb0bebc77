"""What each policy type holds: its fields, their bounds and defaults, and which way is
stricter. One table read by the services (validation, "weaker than the platform"), the
selectors (the strictest of several), the API serializers and the admin form."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.flows.limits import LOGIN_FAILED, rates

PASSWORD = "password"  # noqa: S105 - a policy type, not a secret
LOCKOUT = "lockout"
MFA = "mfa"
SESSION = "session"

# mfa.required_for, from the least to the most strict.
MFA_NONE, MFA_ADMINS, MFA_ALL = "none", "admins", "all"


# What a person reads for each policy type and field (the API keeps the names); a type's
# name is lower case, as inside a sentence ("the password policy").
TYPE_NAMES: dict[str, Any] = {
    PASSWORD: _("password"),
    LOCKOUT: _("sign-in lockout"),
    MFA: _("two-factor"),
    SESSION: _("session"),
}

# What a person reads for each field (the API keeps the names).
LABELS: dict[str, Any] = {
    "min_length": _("Min length"),
    "require_uppercase": _("Require an upper-case letter"),
    "require_lowercase": _("Require a lower-case letter"),
    "require_numbers": _("Require a digit"),
    "require_special": _("Require a special character"),
    "history": _("Passwords remembered"),
    "expiry_days": _("Expiry (days)"),
    "max_failures": _("Failed sign-ins allowed"),
    "window_minutes": _("Counting window (minutes)"),
    "required_for": _("Second factor required for"),
    "grace_days": _("Grace period (days)"),
    "access_token_minutes": _("Access token lifetime (minutes)"),
    "refresh_idle_days": _("Idle API session ends after (days)"),
    "refresh_absolute_days": _("API session ends after (days)"),
    "web_session_hours": _("Web session ends after (hours)"),
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: type  # int, bool or str (one of ``choices``)
    help: Any  # lazily translated text
    default: Callable[[], Any]
    minimum: int = 0
    maximum: int = 0
    lower_is_stricter: bool = False
    # For a str field: its values, from the least to the most strict.
    choices: tuple[str, ...] = ()
    # For an int field where fewer is stricter: 0 means "never" (the least strict).
    zero_means_never: bool = False

    @property
    def label(self) -> Any:
        """The field's name in words, in the reader's language."""
        return LABELS.get(self.name) or self.name.replace("_", " ").capitalize()

    def stricter(self, a: Any, b: Any) -> Any:
        """The stricter of two values (True for a requirement; the later choice; the larger
        number, or the smaller one where fewer is stricter, 0 last where it means never)."""
        if self.kind is bool:
            return a or b
        if self.kind is str:
            return max(a, b, key=self.choices.index)
        if self.zero_means_never and 0 in (a, b):
            return a or b
        return min(a, b) if self.lower_is_stricter else max(a, b)

    def is_weaker(self, value: Any, than: Any) -> bool:
        return self.stricter(value, than) != value


PASSWORD_FIELDS: tuple[Field, ...] = (
    Field(
        "min_length",
        int,
        _("The fewest characters a password may have."),
        lambda: settings.PASSWORD_MIN_LENGTH,
        minimum=1,
        maximum=128,
    ),
    Field("require_uppercase", bool, _("At least one upper-case letter."), lambda: False),
    Field("require_lowercase", bool, _("At least one lower-case letter."), lambda: False),
    Field("require_numbers", bool, _("At least one digit."), lambda: False),
    Field(
        "require_special",
        bool,
        _("At least one character other than a letter or a digit."),
        lambda: False,
    ),
    Field(
        "history",
        int,
        _("Refuse the last N passwords, the current one included (0: no history)."),
        lambda: 0,
        minimum=0,
        maximum=24,
    ),
    Field(
        "expiry_days",
        int,
        _(
            "Days a password stays valid; after them the next sign-in asks for a new one (0: "
            "never). Counted from when the password was set."
        ),
        lambda: 0,
        minimum=0,
        maximum=3650,
        lower_is_stricter=True,
        zero_means_never=True,
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
        _(
            "Failed sign-ins of one account allowed within the window; the next is refused "
            "(429) until the window has passed."
        ),
        lambda: _settings_lockout().amount if _settings_lockout() else 1_000_000,
        minimum=1,
        maximum=1_000_000,
        lower_is_stricter=True,
    ),
    Field(
        "window_minutes",
        int,
        _("The window failed sign-ins are counted in, in minutes."),
        lambda: max(1, math.ceil(_settings_lockout().duration / 60)) if _settings_lockout() else 1,
        minimum=1,
        maximum=10_080,
    ),
)

MFA_FIELDS: tuple[Field, ...] = (
    Field(
        "required_for",
        str,
        _(
            "Who must have a second factor: `none`, `admins` (the platform's admins for the "
            "platform's policy; an organization's owners and admins for its own) or `all`."
        ),
        lambda: MFA_NONE,
        choices=(MFA_NONE, MFA_ADMINS, MFA_ALL),
    ),
    Field(
        "grace_days",
        int,
        _(
            "Days a user who must have a second factor may still sign in without one, counted "
            "from the later of the account's creation, the start of the membership (an "
            "organization's policy) and the policy's last change."
        ),
        lambda: 7,
        minimum=0,
        maximum=365,
        lower_is_stricter=True,
    ),
)


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def _whole(seconds: float, unit: int, maximum: int) -> int:
    """A setting's lifetime in whole units (rounded up), within the field's bounds."""
    return min(maximum, max(1, math.ceil(seconds / unit)))


SESSION_FIELDS: tuple[Field, ...] = (
    Field(
        "access_token_minutes",
        int,
        _("Lifetime of an API access token (JWT `exp`), in minutes."),
        lambda: _whole(_seconds(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]), 60, 1440),
        minimum=1,
        maximum=1440,
        lower_is_stricter=True,
    ),
    Field(
        "refresh_idle_days",
        int,
        _("An API session unused for this many days ends (its refresh token expires)."),
        lambda: _whole(_seconds(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]), 86400, 365),
        minimum=1,
        maximum=365,
        lower_is_stricter=True,
    ),
    Field(
        "refresh_absolute_days",
        int,
        _(
            "An API session ends this many days after its sign-in, however active "
            "(`session_expired`). At least `refresh_idle_days`."
        ),
        lambda: _whole(_seconds(settings.API_SESSION_MAX_LIFETIME), 86400, 365),
        minimum=1,
        maximum=365,
        lower_is_stricter=True,
    ),
    Field(
        "web_session_hours",
        int,
        _("A web session ends this many hours after its sign-in."),
        lambda: _whole(float(settings.SESSION_COOKIE_AGE), 3600, 8760),
        minimum=1,
        maximum=8760,
        lower_is_stricter=True,
    ),
)

POLICY_TYPES: dict[str, tuple[Field, ...]] = {
    PASSWORD: PASSWORD_FIELDS,
    LOCKOUT: LOCKOUT_FIELDS,
    MFA: MFA_FIELDS,
    SESSION: SESSION_FIELDS,
}


def defaults(policy_type: str) -> dict[str, Any]:
    return {f.name: f.default() for f in POLICY_TYPES[policy_type]}


def strictest(policy_type: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """Field by field, the strictest of ``values`` (each a complete policy)."""
    out = dict(values[0])
    for other in values[1:]:
        for f in POLICY_TYPES[policy_type]:
            out[f.name] = f.stricter(out[f.name], other[f.name])
    return out
