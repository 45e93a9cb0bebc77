"""The password-reset request of the API (allauth's reset form and mails, as on the page),
and the replacement of an expired password at sign-in (the API's ``password_change_token``
and the pages' login stage, accounts.flows.stages)."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from allauth.account.forms import ResetPasswordForm
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.credentials import API_KEYS_NONE, credentials_revoke_on_password_change
from accounts.flows.limits import consume_or_429
from accounts.flows.login import invalid_credentials, user_may_sign_in
from accounts.managers import normalize_email
from accounts.models import User
from audit.services import record
from config.errors import Unauthenticated


def password_reset_request(*, request, email: str) -> None:
    """Send allauth's reset email (or its "no account" email); never tells which."""
    django_request = getattr(request, "_request", request)
    email = normalize_email(email)
    consume_or_429(request, action="reset_password", key=email)
    with allauth_context.request_context(django_request):
        form = ResetPasswordForm(data={"email": email})
        if form.is_valid():
            form.save(django_request)


# --- an expired password, replaced at sign-in -----------------------------------------------

PASSWORD_EXPIRED = "password_expired"  # noqa: S105 - a reason, not a secret
_TICKET_ATTEMPTS = 5


def _ticket_key(token: str) -> str:
    return f"auth:password-change:{hashlib.sha256(token.encode()).hexdigest()}"


def password_change_ticket_create(user: User, *, organization: str | None) -> str:
    """A short-lived (``AUTH_MFA_TOKEN_TTL``), single-use ticket that stands for "password
    checked, and expired"; kept hashed, with the organization the sign-in named."""
    token = secrets.token_urlsafe(32)
    ttl = int(settings.AUTH_MFA_TOKEN_TTL)
    cache.set(
        _ticket_key(token),
        {
            "user_id": str(user.pk),
            "deadline": time.time() + ttl,
            "organization": organization,
            "attempts": 0,
        },
        timeout=ttl,
    )
    return token


def password_change_ticket_use(request, *, token: str, new_password: str) -> tuple[User, Any]:
    """Replace the expired password of the ticket's user; returns (user, organization).

    The ticket is taken out of the cache atomically; a refused new password (the password
    validators, history included: 400 naming ``new_password``) puts it back until it
    expires or has been tried ``_TICKET_ATTEMPTS`` times; a success spends it."""
    key = _ticket_key(token or "")
    ticket = cache.get(key)
    if not ticket or not cache.delete(key) or ticket["deadline"] <= time.time():
        raise Unauthenticated(
            "invalid_password_change_token",
            "The password change token is not valid or has expired; sign in again.",
        )
    user = User.objects.filter(pk=ticket["user_id"]).first()
    if user is None or not user_may_sign_in(user):
        raise invalid_credentials()
    try:
        expired_password_replace(user=user, new_password=new_password, request=request)
    except ValidationError:
        ticket["attempts"] += 1
        remaining = int(ticket["deadline"] - time.time())
        if remaining > 0 and ticket["attempts"] < _TICKET_ATTEMPTS:
            cache.add(key, ticket, timeout=remaining)
        raise
    return user, ticket["organization"]


def expired_password_replace(*, user: User, new_password: str, request=None) -> None:
    """Set ``user``'s new password in place of an expired one (the sign-in's password step
    has passed): Django's password validators (the security policy's rules and history)
    with errors under ``new_password``, audited ``auth.password.changed`` (reason
    ``password_expired``); the account's other sessions end, its API keys stay."""
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.error_list}) from exc
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.set_password(new_password)
        locked.save(update_fields=["password"])
        user.password = locked.password
        record(
            action="auth.password.changed",
            actor=locked,
            target=locked,
            request=request,
            metadata={"reason": PASSWORD_EXPIRED},
        )
        credentials_revoke_on_password_change(
            user=locked,
            actor=locked,
            request=request,
            api_keys=API_KEYS_NONE,
            reason=PASSWORD_EXPIRED,
        )
