from django.conf import settings
from django.core.exceptions import ValidationError

# The codes a new password can be refused with: Django's validators in
# AUTH_PASSWORD_VALIDATORS (every one's code is passed through) and ours below.
PASSWORD_ERROR_CODES = [
    "password_too_short",
    "password_too_similar",
    "password_too_common",
    "password_entirely_numeric",
    "password_too_long",
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
