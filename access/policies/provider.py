"""The password rules accounts asks for (accounts.password_rules): access fills them in from
its AppConfig.ready(), because accounts sits below access and never imports it."""

from __future__ import annotations

from typing import Any

from access.policies import selectors, services
from access.policies.types import PASSWORD
from accounts.hooks import register_erasure_step
from accounts.password_rules import PasswordRules, register_password_policy


class PasswordPolicy:
    def rules_for(self, user: Any) -> PasswordRules:
        return PasswordRules(**selectors.effective_values(user, PASSWORD))

    def recent_hashes(self, user: Any, count: int) -> list[str]:
        return selectors.password_hashes(user, count)

    def remember(self, user: Any, encoded: str) -> None:
        services.password_remember(user=user, encoded=encoded)


PASSWORD_POLICY = PasswordPolicy()


def register() -> None:
    """Called from ``AccessConfig.ready()``: the password validator reads these policies,
    and password history goes with an erased account."""
    register_password_policy(PASSWORD_POLICY)
    register_erasure_step(services.password_history_erase)
