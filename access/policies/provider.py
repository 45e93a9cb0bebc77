"""The password rules accounts asks for (accounts.policy_rules): access fills them in from
its AppConfig.ready(), because accounts sits below access and never imports it."""

from __future__ import annotations

from typing import Any

from access.policies import selectors, services
from access.policies.types import PASSWORD
from accounts.hooks import register_erasure_step
from accounts.policy_rules import LockoutRule, PasswordRules, register_policies


class SecurityPolicies:
    def rules_for(self, user: Any) -> PasswordRules:
        return PasswordRules(**selectors.effective_values(user, PASSWORD))

    def recent_hashes(self, user: Any, count: int) -> list[str]:
        return selectors.password_hashes(user, count)

    def remember(self, user: Any, encoded: str) -> None:
        services.password_remember(user=user, encoded=encoded)

    def lockout_for(self, login: str) -> LockoutRule | None:
        values = selectors.lockout_values(login)
        if values is None:
            return None
        return LockoutRule(values["max_failures"], values["window_minutes"] * 60)


SECURITY_POLICIES = SecurityPolicies()


def register() -> None:
    """Called from ``AccessConfig.ready()``: accounts' password validator and sign-in limits
    read these policies, and password history goes with an erased account."""
    register_policies(SECURITY_POLICIES)
    register_erasure_step(services.password_history_erase)
