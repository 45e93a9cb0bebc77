"""The allauth override point: where Roster's one sign-in policy (accounts.flows) meets the
pages. The API door calls the same flows, so both share counters and rules."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.auth_backends import AuthenticationBackend
from allauth.account.utils import filter_users_by_email
from allauth.core import context as allauth_context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.sites.shortcuts import get_current_site
from django.core.exceptions import PermissionDenied
from django.utils import translation

from accounts import hooks
from accounts.flows import limits
from accounts.flows.login import user_may_sign_in
from accounts.i18n import language_of
from accounts.impersonation import is_impersonating, refusal
from accounts.managers import normalize_email
from accounts.roles import assign_default_role
from audit.services import record
from config.client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_login_stages(self) -> list[str]:
        # After the second factor: an expired password is replaced before the sign-in ends.
        return [*super().get_login_stages(), "accounts.flows.stages.PasswordExpiredStage"]

    def get_client_ip(self, request) -> str:
        # One answer to "which address is the client" for allauth and Roster alike.
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def clean_email(self, email: str) -> str:
        return normalize_email(super().clean_email(email))

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            assign_default_role(user)
        # user.created is recorded by audit.receivers (allauth's user_signed_up).
        return user

    # --- login limits: the same counters as POST /api/v1/auth/token ----------------------

    def pre_authenticate(self, request, **credentials) -> None:
        """Count the attempt (accounts.flows.limits) before any password is checked."""
        login = credentials.get("email", credentials.get("username", ""))
        key = limits.login_attempt_key(login)
        self._login_usage = limits.consume(request, action=limits.LOGIN_FAILED, key=key)
        if self._login_usage is None:
            limits.lockout_error(request, key=key, email=login)
            raise self.validation_error("too_many_login_attempts")

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
        (accounts.flows.login.check_credentials): the attempt stays counted, and Django's
        ``user_login_failed`` (sent because every backend refused) audits it."""
        self.pre_authenticate(request, **credentials)
        user = authenticate(request, **credentials)
        AuthenticationBackend.unstash_authenticated_user()
        if user is None or not user_may_sign_in(user):
            self.authentication_failed(request, **credentials)
            return None
        # A success hands its attempt back (as allauth does), it does not wipe the count.
        self._login_usage.rollback()
        return user

    # --- emails -------------------------------------------------------------------------

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """allauth's emails in the recipient's language (their profile locale) when the
        address is a user's, whoever asked; otherwise in the request's language. They
        greet with the site's name (settings.SITE_NAME), not the request's host."""
        site = get_current_site(context.get("request") or allauth_context.request)
        site.name = settings.SITE_NAME
        context = {**context, "current_site": site}
        user = context.get("user")
        if user is None:
            user = next(iter(filter_users_by_email(email, is_active=True)), None)
        if user is None:
            super().send_mail(template_prefix, email, context)
            return
        with translation.override(language_of(user)):
            super().send_mail(template_prefix, email, context)

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

    def list_apps(self, request, provider=None, client_id=None):
        # allauth's apps (database, settings) and those the apps above accounts keep
        # (accounts.hooks.register_social_apps: an organization's SAML identity provider).
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        return apps + hooks.social_apps(provider=provider, client_id=client_id)

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        assign_default_role(user)
        # user.created and auth.social.connected are recorded by audit.receivers.
        return user
