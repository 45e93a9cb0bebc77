"""DRF authentication classes and the context they attach to ``request.auth``.

Every class sets ``request.auth`` to an :class:`AuthContext`, so permissions and services
can tell how the caller signed in (JWT, API key or browser session) and which scopes apply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from accounts import apikey_cache, apikeys, identity_cache, jwt_codec, selectors, sessions, tokens
from accounts.apikeys import KEY_PREFIX as API_KEY_PREFIX
from accounts.flows.limits import consume_ip_attempt
from accounts.flows.login import ensure_email_verified, user_may_sign_in
from config.api.throttling import user_window
from config.client_ip import client_ip

WWW_AUTHENTICATE = 'Bearer realm="api"'


@dataclass(frozen=True)
class AuthContext:
    method: str  # "jwt" | "api_key" | "session"
    scopes: frozenset[str] | None = None  # None: every scope the user's role allows
    session_id: str | None = None
    expires_at: datetime | None = None
    api_key: object | None = None
    claims: dict = field(default_factory=dict)

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


class CsrfSessionAuthentication(SessionAuthentication):
    """The browser session (pages, browsable API), with CSRF enforced."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        session = request._request.session
        return result[0], AuthContext(method="session", session_id=session.session_key)

    def authenticate_header(self, request) -> str:
        return WWW_AUTHENTICATE


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


class JWTAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>``: RS256, a known ``kid``, a live session.

    On Redis, the session's state, the user with the flags of the user object (roles, email
    verification, MFA) and the rate-limit count come from one round trip and no SQL
    (accounts.identity_cache). Elsewhere, or while Redis is unreachable, the session check
    is one cache read (accounts.sessions) and the user row with its flags one statement.
    Either way the account is refused unless it is active.
    """

    def authenticate(self, request):
        raw = _bearer(request)
        if raw is None or raw.startswith(API_KEY_PREFIX):
            return None
        if not raw:
            raise exceptions.AuthenticationFailed(
                "The bearer token is empty.", code="token_invalid"
            )
        try:
            claims = _access_claims(raw)
        except tokens.TokenRejected as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from None
        sid, user_id = claims["sid"], claims["sub"]
        user = _cached_caller(request, sid, user_id)
        if user is None:
            if not sessions.api_session_is_live(sid, touch=True, touch_ip=client_ip(request)):
                raise _revoked()
            user = selectors.user_with_flags(user_id)
        if user is None or not user_may_sign_in(user):
            raise _inactive()
        return user, AuthContext(
            method="jwt",
            session_id=sid,
            expires_at=tokens.claims_expiry(claims),
            claims=claims,
        )

    def authenticate_header(self, request) -> str:
        return WWW_AUTHENTICATE


# Access tokens this process has verified, by their exact text: a client sends the same
# token on every request for minutes, and its RS256 signature check was the largest cost of
# authenticating it. Only the signature is remembered; expiry is checked on every request.
_VERIFIED_MAX = 4096
_verified: dict[str, tuple[object, dict]] = {}


def _leeway_seconds() -> float:
    leeway = settings.SIMPLE_JWT.get("LEEWAY", 0) or 0
    return leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)


def _access_claims(raw: str) -> dict:
    keys = jwt_codec.keyset()  # a new key set (rotation) verifies every token again
    known = _verified.get(raw)
    if known is not None and known[0] is keys:
        claims = known[1]
        if time.time() < claims["exp"] + _leeway_seconds():
            return dict(claims)
        _verified.pop(raw, None)
    claims = jwt_codec.decode_typed(raw, "access")
    if len(_verified) >= _VERIFIED_MAX:
        _verified.pop(next(iter(_verified), None), None)  # the oldest
    _verified[raw] = (keys, dict(claims))
    return claims


def _revoked() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed("This session has been revoked.", code="token_revoked")


def _inactive() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed("This account is not active.", code="account_inactive")


def _cached_caller(request, sid: str, user_id: str):
    """The caller from the one Redis round trip of accounts.identity_cache (the session's
    state, the user with its flags, the rate-limit count), or None when Redis is not the
    cache or is unreachable (the SQL path answers). Raises when the session is revoked or
    the user is gone."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    try:
        found = identity_cache.session_identity(
            sid, user_id, touch_ip=client_ip(request), rate=user_window(view, user_id)
        )
    except identity_cache.SessionRevoked:
        raise _revoked() from None
    if found is None:
        return None
    if found.rate is not None:
        request._request.rate_counted = found.rate
    if found.user is None:
        raise _inactive()
    return found.user


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer rst_…`` or ``X-API-Key: rst_…``: a scoped API key.

    A wrong (unknown or malformed) key counts as a failed sign-in against the caller's IP
    (the login policy's per-IP limit), so spraying keys locks the IP out of every door.

    On Redis, a key in use is answered from its snapshot: the key, its owner with the flags
    of the user object, the rate-limit count and the last-use gate in one round trip and no
    SQL (accounts.apikey_cache). Otherwise, or on a miss, the key row and its owner's flags
    are read from the database (two statements).
    """

    def authenticate(self, request):
        raw = _bearer(request)
        if raw is None or not raw.startswith(API_KEY_PREFIX):
            raw = request.META.get("HTTP_X_API_KEY")
            if raw is None:
                return None
            raw = raw.strip()
        found = _cached_key(request, raw)
        cached = found.key if found is not None else None
        try:
            if cached is not None:
                apikeys.api_key_ensure_live(cached)  # expiry: against the clock, every time
                key = cached
            else:
                key = apikeys.api_key_verify(raw)
        except apikeys.ApiKeyRejected as exc:
            if exc.code == "invalid_api_key":
                # Guessing counts against the IP; a job still holding a key that was revoked
                # or expired is not guessing and must not lock its address out of sign-in.
                consume_ip_attempt(request)
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from None
        if cached is not None:
            user = key.user  # with its flags, from the snapshot
            if found.rate is not None:
                request._request.rate_counted = found.rate
        else:
            # The flags of the user object (roles, email verified, MFA) in one statement:
            # the verification check, the rate limit's role and /users/me read them here.
            user = selectors.with_flags([key.user])[0]
        if not user_may_sign_in(user):
            raise _inactive()
        ensure_email_verified(user)
        if cached is not None:
            apikeys.api_key_mark_used(
                key, ip=client_ip(request), request=request, last_written=found.last_used_written
            )
        else:
            apikeys.api_key_mark_used(key, ip=client_ip(request), request=request)
            if found is not None:  # Redis answered: keep the key for the next request
                apikey_cache.store(found, key, user)
        return user, AuthContext(
            method="api_key",
            scopes=frozenset(key.scopes),
            expires_at=key.expires_at,
            api_key=key,
        )

    def authenticate_header(self, request) -> str:
        return WWW_AUTHENTICATE


def _cached_key(request, raw: str) -> apikey_cache.KeyLookup | None:
    """What Redis holds for the key ``raw`` (by its digest), or None when Redis is not the
    cache or is unreachable, or the key is malformed (the SQL path answers)."""
    if apikeys.parse_public_prefix(raw) is None:
        return None
    view = (getattr(request, "parser_context", None) or {}).get("view")
    return apikey_cache.lookup(
        apikeys.digest_of(raw),
        gate_key=apikeys.last_used_gate(apikey_cache.ID),
        rate=user_window(view, apikey_cache.ID),
    )


# --- OpenAPI: how each credential is sent -------------------------------------------------


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwt"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "RS256 access token from `POST /api/v1/auth/token`; keys at "
            "`/.well-known/jwks.json`.",
        }


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "A scoped API key (`rst_…`); `Authorization: Bearer rst_…` works too.",
        }


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.CsrfSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The browser session of the account pages (CSRF token required).",
        }
