"""The allauth override point: where Roster's one login policy (accounts.policy) meets the
pages. The API door calls the same policy functions, so both share counters and rules."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts import policy
from audit.services import record


class AccountAdapter(DefaultAccountAdapter):
    def clean_email(self, email: str) -> str:
        from accounts.managers import normalize_email

        return normalize_email(super().clean_email(email))

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit and not user.groups.exists():
            from accounts.roles import assign_roles

            assign_roles(user, ["member"])
        # user.created is recorded by audit.receivers (allauth's user_signed_up).
        return user

    # --- login limits: the same counters as POST /api/v1/auth/token ----------------------

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        return policy.login_attempt_key(credentials.get("email", credentials.get("username", "")))

    def pre_authenticate(self, request, **credentials) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            login = credentials.get("email", credentials.get("username", ""))
            policy.lockout_error(
                request, key=self._get_login_attempts_cache_key(request, **credentials), email=login
            )
            raise

    def authenticate(self, request, **credentials):
        password = credentials.get("password") or ""
        if len(password) > settings.PASSWORD_MAX_LENGTH:
            # Counted as a failed attempt, refused before any hashing.
            self.pre_authenticate(request, **credentials)
            record(
                action="auth.login.failed",
                actor=None,
                request=request,
                metadata={
                    "door": "page",
                    "reason": "password_too_long",
                    "identifier": str(credentials.get("email") or "")[:254],
                },
            )
            return None
        return super().authenticate(request, **credentials)

    # --- password reset -----------------------------------------------------------------

    def send_password_reset_mail(self, user, email: str, context: dict) -> None:
        super().send_password_reset_mail(user, email, context)
        record(
            action="auth.password.reset_requested",
            actor=None,
            target=user,
            request=context.get("request"),
            metadata={"email": email},
        )


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    pass
