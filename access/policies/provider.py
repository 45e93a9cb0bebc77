"""The security policies accounts asks for (accounts.policy_rules: password rules and
history, lockout, session lifetimes, password expiry, the MFA deadline): access fills them
in from its AppConfig.ready(), because accounts sits below access and never imports it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from access.policies import selectors, services
from access.policies.types import PASSWORD, SESSION
from accounts.hooks import register_erasure_step
from accounts.policy_rules import (
    LockoutRule,
    PasswordRules,
    SessionRules,
    default_session_rules,
    register_policies,
)


class SecurityPolicies:
    def rules_for(self, user: Any) -> PasswordRules:
        values = selectors.effective_values(user, PASSWORD)
        values.pop("expiry_days")  # not a rule of the password itself (password_expires_at)
        return PasswordRules(**values)

    def recent_hashes(self, user: Any, count: int) -> list[str]:
        return selectors.password_hashes(user, count)

    def remember(self, user: Any, encoded: str) -> None:
        services.password_remember(user=user, encoded=encoded)

    def lockout_for(self, login: str) -> LockoutRule | None:
        values = selectors.lockout_values(login)
        if values is None:
            return None
        return LockoutRule(values["max_failures"], values["window_minutes"] * 60)

    def session_rules_for(self, user: Any) -> SessionRules:
        if SESSION not in selectors.stored_types():
            return default_session_rules()  # the settings, to the second
        values = selectors.session_values(user)
        return SessionRules(
            access_token=timedelta(minutes=values["access_token_minutes"]),
            refresh_idle=timedelta(days=values["refresh_idle_days"]),
            refresh_absolute=timedelta(days=values["refresh_absolute_days"]),
            web_session=timedelta(hours=values["web_session_hours"]),
        )

    def password_expires_at(self, user: Any) -> datetime | None:
        return selectors.password_expires_at(user)

    def mfa_deadline(self, user: Any) -> datetime | None:
        return selectors.mfa_deadline(user)


SECURITY_POLICIES = SecurityPolicies()


def register() -> None:
    """Called from ``AccessConfig.ready()``: accounts' password validator and sign-in limits
    read these policies, and password history goes with an erased account."""
    register_policies(SECURITY_POLICIES)
    register_erasure_step(services.password_history_erase)
    # A web sign-in gets the session policy's end and the MFA policy's due date.
    from django.contrib.auth.signals import user_logged_in

    from access.policies.middleware import on_user_logged_in

    user_logged_in.connect(on_user_logged_in, dispatch_uid="access.policies.web_session")
