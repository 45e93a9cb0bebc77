"""The rules a new password must meet, and where they come from.

``accounts`` checks passwords (``accounts.validators.PasswordPolicyValidator``, one entry of
``AUTH_PASSWORD_VALIDATORS``, so every door that calls Django's ``validate_password`` - the
register and password endpoints, allauth's sign-up, change and reset pages, the admin's user
forms, bulk and import - goes through it), but the rules are security policies that an
administrator changes at runtime, and those live in ``access``, which sits above accounts in
the layer order (docs/architecture.md): accounts never imports it. Instead ``access`` fills
in the one provider here from its ``AppConfig.ready()``:

    register_password_policy(provider)   # see PasswordPolicyProvider

Without a provider (an installation without ``access``) the rules are the settings'
defaults: at least ``PASSWORD_MIN_LENGTH`` characters, no history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings


@dataclass(frozen=True)
class PasswordRules:
    """The effective password rules for one user (or for a new account when ``user`` is
    None)."""

    min_length: int
    require_uppercase: bool = False
    require_lowercase: bool = False
    require_numbers: bool = False
    require_special: bool = False
    history: int = 0  # refuse the last N passwords (0: no history)


class PasswordPolicyProvider(Protocol):
    def rules_for(self, user: Any) -> PasswordRules:
        """The strictest rules that apply to ``user`` (None or unsaved: a new account)."""

    def recent_hashes(self, user: Any, count: int) -> list[str]:
        """The encoded hashes of ``user``'s last ``count`` passwords, newest first."""

    def remember(self, user: Any, encoded: str) -> None:
        """``user`` now has the password hashed as ``encoded`` (keep what the rules say)."""


_providers: list[PasswordPolicyProvider] = []


def default_rules() -> PasswordRules:
    return PasswordRules(min_length=settings.PASSWORD_MIN_LENGTH)


def register_password_policy(provider: PasswordPolicyProvider) -> None:
    """Make ``provider`` the one source of password rules (a second one is an error)."""
    if _providers and _providers[0] is not provider:
        raise ValueError("A password policy provider is already registered.")
    if not _providers:
        _providers.append(provider)


def password_provider() -> PasswordPolicyProvider | None:
    return _providers[0] if _providers else None


def password_rules_for(user: Any) -> PasswordRules:
    provider = password_provider()
    return provider.rules_for(user) if provider is not None else default_rules()
