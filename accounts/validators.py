from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError

from accounts.policy_rules import password_rules_for, policy_provider

# The codes a new password can be refused with: Django's validators in
# AUTH_PASSWORD_VALIDATORS (every one's code is passed through) and ours below.
PASSWORD_ERROR_CODES = [
    "password_too_short",
    "password_too_similar",
    "password_too_common",
    "password_entirely_numeric",
    "password_too_long",
    "password_requires_uppercase",
    "password_requires_lowercase",
    "password_requires_number",
    "password_requires_special",
    "password_reused",
]


class MaximumLengthValidator:
    """Refuse absurdly long passwords before they reach the hasher."""

    def __init__(self, max_length: int | None = None):
        self.max_length = max_length or settings.PASSWORD_MAX_LENGTH

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                f"This password is too long (at most {self.max_length} characters).",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password can be at most {self.max_length} characters."


class PasswordPolicyValidator:
    """The security policy's password rules (accounts.policy_rules): length, character
    classes and history, read per check from the effective policy of ``user`` (the strictest
    of the platform's and of every organization the user is an active member of), so a
    policy change applies at once. Every failing rule is reported, each with its code."""

    def validate(self, password: str, user=None) -> None:
        rules = password_rules_for(user)
        errors: list[ValidationError] = []
        if len(password) < rules.min_length:
            errors.append(
                ValidationError(
                    "This password is too short. It must contain at least "
                    f"{rules.min_length} characters.",
                    code="password_too_short",
                )
            )
        for required, test, code, what in (
            (
                rules.require_uppercase,
                str.isupper,
                "password_requires_uppercase",
                "an upper-case letter",
            ),
            (
                rules.require_lowercase,
                str.islower,
                "password_requires_lowercase",
                "a lower-case letter",
            ),
            (rules.require_numbers, str.isdigit, "password_requires_number", "a digit"),
            (
                rules.require_special,
                _is_special,
                "password_requires_special",
                "a character other than a letter or a digit",
            ),
        ):
            if required and not any(test(ch) for ch in password):
                errors.append(ValidationError(f"This password must contain {what}.", code=code))
        if rules.history and _reused(password, user, rules.history):
            errors.append(
                ValidationError(
                    f"This password is one of your last {rules.history}; choose another.",
                    code="password_reused",
                )
            )
        if errors:
            raise ValidationError(errors)

    def password_changed(self, password: str, user=None) -> None:
        """Called by ``User.save()`` after ``set_password``: the new hash joins the history."""
        provider = policy_provider()
        if provider is not None and user is not None and user.pk is not None:
            provider.remember(user, user.password)

    def get_help_text(self) -> str:
        rules = password_rules_for(None)
        text = f"Your password must contain at least {rules.min_length} characters"
        wanted = [
            what
            for required, what in (
                (rules.require_uppercase, "an upper-case letter"),
                (rules.require_lowercase, "a lower-case letter"),
                (rules.require_numbers, "a digit"),
                (rules.require_special, "a character other than a letter or a digit"),
            )
            if required
        ]
        return text + (f", with {', '.join(wanted)}." if wanted else ".")


def _is_special(ch: str) -> bool:
    return not ch.isalnum() and not ch.isspace()


def _reused(password: str, user, count: int) -> bool:
    """Whether ``password`` is the current one or among the last ``count`` (the current
    one counts first, whether or not it was set while a history was kept)."""
    provider = policy_provider()
    if user is None or user.pk is None or provider is None:
        return False
    current = user.password if user.has_usable_password() else None
    hashes = provider.recent_hashes(user, count)
    if current and current not in hashes:
        hashes = [current, *hashes[: count - 1]]
    return any(check_password(password, encoded) for encoded in hashes)
