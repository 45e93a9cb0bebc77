"""The second factor of an API sign-in: allauth's authenticators and its code form.

Codes are checked by the pages' form (allauth's ``AuthenticateForm`` as accounts.sms.forms
extends it with SMS codes: same rate limit key, same single-use recovery codes, same TOTP
replay guard). Whether a second factor is asked
for at all is :func:`accounts.selectors.has_mfa`, as on the pages.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from allauth.core import context as allauth_context
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_used
from django.conf import settings
from django.core.cache import cache

from accounts.flows.limits import lockout_error, mfa_attempt_key
from accounts.flows.login import invalid_credentials, user_may_sign_in
from accounts.flows.metrics import count_sign_in
from accounts.models import User
from accounts.sms import services as sms
from accounts.sms.forms import AuthenticateForm
from config.errors import Unauthenticated

MFA_API_METHODS = ("totp", "sms", "recovery_codes")
MFA_MAX_CODES_PER_TOKEN = 5


def mfa_methods(user: User) -> list[str]:
    types = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    if sms.device_of(user) is not None:
        types.add("sms")
    return [m for m in MFA_API_METHODS if m in types]


def _mfa_cache_key(mfa_token: str) -> str:
    return f"auth:mfa:{hashlib.sha256(mfa_token.encode()).hexdigest()}"


def mfa_token_ttl() -> int:
    return int(settings.AUTH_MFA_TOKEN_TTL)


def mfa_challenge_create(user: User) -> str:
    """A short-lived, single-use ticket that stands for "password checked" (kept hashed)."""
    token = secrets.token_urlsafe(32)
    deadline = time.time() + mfa_token_ttl()
    cache.set(
        _mfa_cache_key(token),
        {"user_id": str(user.pk), "deadline": deadline, "attempts": 0},
        timeout=mfa_token_ttl(),
    )
    return token


@dataclass(frozen=True)
class MfaResult:
    user: User
    method: str


def _take_ticket(key: str) -> dict:
    ticket = cache.get(key)
    # delete() answers True for exactly one caller (Redis DEL, unlink on the file cache).
    if not ticket or not cache.delete(key) or ticket["deadline"] <= time.time():
        raise Unauthenticated("invalid_mfa_token", "The MFA token is not valid or has expired.")
    return ticket


def mfa_challenge_user(mfa_token: str) -> User:
    """The user an unspent, unexpired ``mfa_token`` stands for; the ticket is left as it is
    (asking for an SMS code does not use it up)."""
    ticket = cache.get(_mfa_cache_key(mfa_token or ""))
    if not ticket or ticket["deadline"] <= time.time():
        raise Unauthenticated("invalid_mfa_token", "The MFA token is not valid or has expired.")
    user = User.objects.filter(pk=ticket["user_id"]).first()
    if user is None or not user_may_sign_in(user):
        raise invalid_credentials()
    return user


def mfa_challenge_complete(request, *, mfa_token: str, code: str) -> MfaResult:
    """Check the second factor. The ticket is taken out of the cache atomically (only one
    request can hold it); a wrong code puts it back until it expires or has been tried
    ``MFA_MAX_CODES_PER_TOKEN`` times, a right code spends it for good."""
    key = _mfa_cache_key(mfa_token or "")
    ticket = _take_ticket(key)
    user = User.objects.filter(pk=ticket["user_id"]).first()
    if user is None or not user_may_sign_in(user):
        raise invalid_credentials()

    django_request = getattr(request, "_request", request)
    with allauth_context.request_context(django_request):
        form = AuthenticateForm(data={"code": code}, user=user)
        valid = form.is_valid()
    if valid and form.sms_device is not None:
        return MfaResult(user=user, method="sms")
    if valid:
        authenticator = form.authenticator
        authenticator.record_usage()
        authenticator_used.send(
            sender=Authenticator,
            request=django_request,
            user=user,
            authenticator=authenticator,
            reauthenticated=False,
            passwordless=False,
        )
        return MfaResult(user=user, method=authenticator.type)

    codes = {e.code for e in form.errors.as_data().get("code", [])}
    remaining = int(ticket["deadline"] - time.time())
    limited = "too_many_login_attempts" in codes
    ticket["attempts"] += 0 if limited else 1
    if remaining > 0 and ticket["attempts"] < MFA_MAX_CODES_PER_TOKEN:
        cache.add(key, ticket, timeout=remaining)
    if limited:
        raise lockout_error(request, key=mfa_attempt_key(user), user=user)
    # allauth's form already sent authentication_failed (audited as auth.mfa.failed).
    count_sign_in(door="api", result="failed")
    raise Unauthenticated("invalid_code", "The code is not valid.")
