"""The security policies accounts applies, and where they come from: the rules a new
password must meet, the per-account sign-in lockout, the lifetimes of tokens and sessions
(``session_rules_for``), whether a password has expired (``password_expired``: the API's
``password_change_required`` step, the pages' login stage accounts.flows.stages) and whether
a second factor must be set up first (``mfa_setup_required``: 403 at the API's sign-in and
refresh).

``accounts`` checks passwords (``accounts.validators.PasswordPolicyValidator``, one entry of
``AUTH_PASSWORD_VALIDATORS``, so every door that calls Django's ``validate_password`` - the
register and password endpoints, allauth's sign-up, change and reset pages, the admin's user
forms, bulk and import - goes through it), but the rules are security policies that an
administrator changes at runtime, and those live in ``access``, which sits above accounts in
the layer order (docs/architecture.md): accounts never imports it. Instead ``access`` fills
in the one provider here from its ``AppConfig.ready()``:

    register_policies(provider)   # see PolicyProvider

Without a provider (an installation without ``access``) the rules are the settings'
defaults: at least ``PASSWORD_MIN_LENGTH`` characters, no history; and the per-account
lockout is the ``key`` rate of ``ACCOUNT_RATE_LIMITS["login_failed"]``. The lockout policy
replaces that rate for an account (accounts.flows.limits); the per-IP rates stay settings.
Session lifetimes are then the settings (``SIMPLE_JWT``, ``API_SESSION_MAX_LIFETIME``,
``SESSION_COOKIE_AGE``); passwords never expire and no second factor is required.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone


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


@dataclass(frozen=True)
class LockoutRule:
    """At most ``max_failures`` failed sign-ins of one account within ``window_seconds``."""

    max_failures: int
    window_seconds: int


@dataclass(frozen=True)
class SessionRules:
    """How long the credentials of one user's sign-in live (the ``session`` policy)."""

    access_token: timedelta  # an access token's lifetime (JWT exp)
    refresh_idle: timedelta  # an API session unused this long ends
    refresh_absolute: timedelta  # an API session ends this long after its sign-in
    web_session: timedelta  # a web session ends this long after its sign-in


class PolicyProvider(Protocol):
    def rules_for(self, user: Any) -> PasswordRules:
        """The strictest rules that apply to ``user`` (None or unsaved: a new account)."""

    def recent_hashes(self, user: Any, count: int) -> list[str]:
        """The encoded hashes of ``user``'s last ``count`` passwords, newest first."""

    def remember(self, user: Any, encoded: str) -> None:
        """``user`` now has the password hashed as ``encoded`` (keep what the rules say)."""

    def lockout_for(self, login: str) -> LockoutRule | None:
        """The strictest lockout policy of the account signing in as ``login`` (an email
        address; the platform's for an unknown one); None while no policy is stored."""

    def session_rules_for(self, user: Any) -> SessionRules:
        """The strictest session lifetimes that apply to ``user``."""

    def password_expires_at(self, user: Any) -> datetime | None:
        """When ``user``'s password expires (None: never)."""

    def mfa_deadline(self, user: Any) -> datetime | None:
        """When ``user`` must have a second factor by (None: no policy requires one)."""


_providers: list[PolicyProvider] = []


def default_rules() -> PasswordRules:
    return PasswordRules(min_length=settings.PASSWORD_MIN_LENGTH)


def register_policies(provider: PolicyProvider) -> None:
    """Make ``provider`` the one source of security policies (a second one is an error)."""
    if _providers and _providers[0] is not provider:
        raise ValueError("A security policy provider is already registered.")
    if not _providers:
        _providers.append(provider)


def policy_provider() -> PolicyProvider | None:
    return _providers[0] if _providers else None


def password_rules_for(user: Any) -> PasswordRules:
    provider = policy_provider()
    return provider.rules_for(user) if provider is not None else default_rules()


def lockout_rule_for(login: str) -> LockoutRule | None:
    """The per-account lockout of ``login``; None: the settings' rate applies."""
    provider = policy_provider()
    return provider.lockout_for(login) if provider is not None else None


def default_session_rules() -> SessionRules:
    return SessionRules(
        access_token=settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"],
        refresh_idle=settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"],
        refresh_absolute=settings.API_SESSION_MAX_LIFETIME,
        web_session=timedelta(seconds=settings.SESSION_COOKIE_AGE),
    )


def session_rules_for(user: Any) -> SessionRules:
    provider = policy_provider()
    return provider.session_rules_for(user) if provider is not None else default_session_rules()


def password_expired(user: Any) -> bool:
    """Whether ``user`` must choose a new password before signing in any further."""
    provider = policy_provider()
    expires_at = provider.password_expires_at(user) if provider is not None else None
    return expires_at is not None and expires_at <= timezone.now()


def mfa_setup_required(user: Any) -> bool:
    """Whether ``user`` must set up a second factor before signing in any further: a policy
    requires one of them, its grace period has passed, and they have none (TOTP or
    WebAuthn)."""
    from accounts.selectors import has_mfa

    provider = policy_provider()
    deadline = provider.mfa_deadline(user) if provider is not None else None
    return deadline is not None and deadline <= timezone.now() and not has_mfa(user)
