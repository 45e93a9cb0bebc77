"""Who is on a notifications WebSocket (notifications.ws): accounts' part.

``notifications`` sits below ``accounts`` in the layer order, so the socket cannot import
the API's authentication; accounts registers it there instead (``AccountsConfig.ready``).
The checks are the API's own: an access token goes through ``JWTAuthentication`` (signature,
expiry, a live session, an active account), an API key through ``ApiKeyAuthentication``
(and must carry ``notifications:read``), and a session cookie through Django's
``auth.get_user`` (the session's password hash included). While the socket is open,
``recheck`` repeats what can change: the token's expiry, the session's revocation, the key's
revocation or expiry, and the account's status.
"""

from __future__ import annotations

from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest
from django.utils import timezone, translation
from rest_framework import exceptions
from rest_framework.request import Request

from accounts import apikeys, selectors, sessions
from accounts.authentication import ApiKeyAuthentication, JWTAuthentication
from accounts.flows.login import user_may_sign_in
from accounts.i18n import language_of
from accounts.models import ApiKey
from accounts.preferences import preferences_of
from config.errors import DomainError
from notifications.ws_hooks import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, Identity, Refused

NOTIFICATIONS_READ = "notifications:read"


def _request(meta: dict) -> Request:
    request = HttpRequest()
    request.META = dict(meta)
    return Request(request)


def authenticate_token(token: str, *, meta: dict) -> Identity:
    """The ``auth`` message: an access token or an API key, exactly as the API takes them."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise Refused(CLOSE_UNAUTHENTICATED, "token_invalid", "Send an access token or API key.")
    request = _request({**meta, "HTTP_AUTHORIZATION": f"Bearer {token}"})
    try:
        found = ApiKeyAuthentication().authenticate(request) or JWTAuthentication().authenticate(
            request
        )
    except exceptions.AuthenticationFailed as exc:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "authentication_failed"
        raise Refused(CLOSE_UNAUTHENTICATED, code, str(exc.detail)) from None
    except DomainError as exc:  # an unverified address, a locked-out IP
        raise Refused(CLOSE_FORBIDDEN, exc.code, exc.detail) from None
    if found is None:
        raise Refused(CLOSE_UNAUTHENTICATED, "token_invalid", "Send an access token or API key.")
    user, context = found
    if context.method == "api_key":
        if not context.allows(NOTIFICATIONS_READ):
            raise Refused(
                CLOSE_FORBIDDEN,
                "insufficient_scope",
                f"This API key does not have the scope {NOTIFICATIONS_READ}.",
            )
        key_id = context.api_key.pk
        return Identity(user=user, method="api_key", recheck=lambda: _recheck_key(key_id, user.pk))
    sid, expires_at = context.session_id, context.expires_at
    return Identity(
        user=user,
        method="jwt",
        recheck=lambda: _recheck_token(sid, expires_at, user.pk),
    )


def authenticate_cookie(session_key: str) -> Identity | None:
    """The session cookie of a same-origin page (the caller checked the Origin)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = _session_user(store)
    if user is None:
        return None
    if not user_may_sign_in(user):
        raise Refused(CLOSE_FORBIDDEN, "account_inactive", "This account is not active.")
    prefs, language = preferences_of(user), language_of(user)

    def when(moment: datetime) -> str:
        with translation.override(language):
            return prefs.format(moment)

    return Identity(
        user=user,
        method="session",
        recheck=lambda: _recheck_cookie(session_key, user.pk),
        when=when,
    )


def _session_user(store):
    request = HttpRequest()
    request.session = store
    user = auth.get_user(request)
    return user if user.is_authenticated else None


def _account_state(user_id) -> int | None:
    user = selectors.user_with_flags(user_id)
    if user is None:
        return CLOSE_UNAUTHENTICATED
    if not user_may_sign_in(user):
        return CLOSE_FORBIDDEN
    return None


# The account is looked at first: a suspension also revokes the sessions, and it is the
# suspension (4403) that the socket must say.


def _recheck_token(sid: str, expires_at: datetime, user_id) -> int | None:
    state = _account_state(user_id)
    if state is None and (expires_at <= timezone.now() or not sessions.api_session_is_live(sid)):
        return CLOSE_UNAUTHENTICATED
    return state


def _recheck_key(key_id, user_id) -> int | None:
    state = _account_state(user_id)
    if state is not None:
        return state
    key = ApiKey.objects.filter(pk=key_id).first()
    if key is None:
        return CLOSE_UNAUTHENTICATED
    try:
        apikeys.api_key_ensure_live(key)
    except apikeys.ApiKeyRejected:
        return CLOSE_UNAUTHENTICATED
    return None


def _recheck_cookie(session_key: str, user_id) -> int | None:
    state = _account_state(user_id)
    if state is not None:
        return state
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = _session_user(store)
    return CLOSE_UNAUTHENTICATED if user is None or user.pk != user_id else None
