"""The password step of a sign-in, and who may sign in at all (every door)."""

from __future__ import annotations

import secrets

from allauth.account import app_settings as account_settings
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password

from accounts.flows.limits import consume_login_attempt
from accounts.flows.metrics import count_sign_in
from accounts.managers import normalize_email
from accounts.models import User
from accounts.policy_rules import mfa_setup_required
from accounts.selectors import email_verified_of
from audit.services import record
from config.errors import Forbidden, Unauthenticated

INVALID_CREDENTIALS_DETAIL = "The email address or password is not correct."


def invalid_credentials() -> Unauthenticated:
    return Unauthenticated("invalid_credentials", INVALID_CREDENTIALS_DETAIL)


def user_may_sign_in(user: User) -> bool:
    return bool(user.is_active) and user.status == User.Status.ACTIVE


def email_verification_mandatory() -> bool:
    return account_settings.EMAIL_VERIFICATION == account_settings.EmailVerificationMethod.MANDATORY


def ensure_email_verified(user: User) -> None:
    if email_verification_mandatory() and not email_verified_of(user):
        raise Forbidden(
            "email_unverified",
            "Confirm your email address first; the confirmation link was sent by email.",
        )


MFA_SETUP_REQUIRED = "mfa_setup_required"


def ensure_mfa_policy_met(user: User) -> None:
    """403 ``mfa_setup_required`` when a security policy requires a second factor of
    ``user``, the grace period has passed and they have none (accounts.policy_rules)."""
    if mfa_setup_required(user):
        raise Forbidden(
            MFA_SETUP_REQUIRED,
            "A security policy requires a second factor for this account: set one up on the "
            "account's security page (sign in there), then sign in again.",
        )


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = make_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def check_credentials(*, email: str, password: str) -> tuple[User | None, str]:
    """(user, reason) after one password hash, whatever the outcome. ``user`` is None on
    failure; ``reason`` is for the audit log only, never for the caller."""
    if len(password) > settings.PASSWORD_MAX_LENGTH:
        # Refused before any hashing; the answer looks like any other failure.
        return None, "password_too_long"
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None or not user.has_usable_password():
        check_password(password, _dummy_hash())
        return None, "unknown_user" if user is None else "no_password"
    if not user.check_password(password):
        return None, "wrong_password"
    if not user_may_sign_in(user):
        return None, "inactive"
    return user, "ok"


def _failed(request, *, email: str, reason: str, door: str, user=None) -> None:
    record(
        action="auth.login.failed",
        actor=None,
        target=user,
        request=request,
        metadata={"door": door, "reason": reason, "identifier": normalize_email(email)[:254]},
    )


def authenticate_password(request, *, email: str, password: str, door: str = "api") -> User:
    """The password step of a login. Raises 429 / 401 ``invalid_credentials`` / 403
    ``email_unverified``; returns the user otherwise (MFA is the caller's next step)."""
    email = normalize_email(email)
    usage = consume_login_attempt(request, email=email)
    user, reason = check_credentials(email=email, password=password)
    if user is None:
        known = User.objects.filter(email=email).first() if reason != "unknown_user" else None
        _failed(request, email=email, reason=reason, door=door, user=known)
        count_sign_in(door=door, result="failed")
        raise invalid_credentials()
    # A successful attempt is handed back, as allauth does on the pages: wiping the whole
    # counter instead would let an attacker interleave good logins with guesses.
    usage.rollback()
    ensure_email_verified(user)
    return user
