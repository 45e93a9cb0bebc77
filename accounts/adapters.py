"""The allauth override point: where Roster's one login policy (accounts.policy) meets the
pages. The API door calls the same policy functions, so both share counters and rules."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts import policy
from accounts.impersonation import is_impersonating, refusal
from accounts.roles import assign_default_role
from audit.services import record


class AccountAdapter(DefaultAccountAdapter):
    def clean_email(self, email: str) -> str:
        from accounts.managers import normalize_email

        return normalize_email(super().clean_email(email))

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            assign_default_role(user)
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
        return self._authenticate_with_policy(request, **credentials)

    def _authenticate_with_policy(self, request, **credentials):
        """allauth's ``authenticate`` without its "inactive" shortcut. allauth's backend keeps
        aside an account whose password matched but which may not sign in, and allauth then
        sends it to /accounts/inactive/: that page tells whoever typed the password that it is
        right. Here such an account gets the wrong-password answer, as at POST /auth/token
        (policy.check_credentials): the attempt stays counted, and Django's
        ``user_login_failed`` (sent because every backend refused) audits it."""
        from allauth.account.auth_backends import AuthenticationBackend
        from django.contrib.auth import authenticate

        self.pre_authenticate(request, **credentials)
        user = authenticate(request, **credentials)
        AuthenticationBackend.unstash_authenticated_user()
        if user is None or not policy.user_may_sign_in(user):
            self.authentication_failed(request, **credentials)
            return None
        # A success hands its attempt back (allauth's own rollback), it does not wipe the count.
        self._rollback_login_failed_rl_usage()
        return user

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
    def pre_social_login(self, request, sociallogin) -> None:
        # Every provider callback passes here before allauth signs in, signs up or connects.
        # An admin viewing Roster as a member must never attach an identity to the member
        # (that would outlive the impersonation as a way in) or sign anyone in. The
        # middleware already refuses these URLs; this holds whatever route reaches a callback.
        if is_impersonating(request):
            raise ImmediateHttpResponse(refusal(request))
        super().pre_social_login(request, sociallogin)

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        assign_default_role(user)
        # user.created and auth.social.connected are recorded by audit.receivers.
        return user
