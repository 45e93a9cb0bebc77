"""DRF authentication classes and the context they attach to ``request.auth``.

Every class sets ``request.auth`` to an :class:`AuthContext`, so permissions and services
can tell how the caller signed in (JWT, API key or browser session) and which scopes apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from accounts import apikeys, selectors, sessions, tokens
from accounts.apikeys import KEY_PREFIX as API_KEY_PREFIX
from accounts.flows.limits import consume_ip_attempt
from accounts.flows.login import ensure_email_verified, user_may_sign_in
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

    The session check is one cache read (see accounts.sessions); the user row (with its
    roles, email verification and MFA flags, one statement) is loaded because every view
    needs it, and refused unless the account is active.
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
            claims = tokens.decode_typed(raw, "access")
        except tokens.TokenRejected as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from None
        sid = claims["sid"]
        if not sessions.api_session_is_live(sid, touch=True, touch_ip=client_ip(request)):
            raise exceptions.AuthenticationFailed(
                "This session has been revoked.", code="token_revoked"
            )
        user = _active_user(claims["sub"])
        return user, AuthContext(
            method="jwt",
            session_id=sid,
            expires_at=tokens.claims_expiry(claims),
            claims=claims,
        )

    def authenticate_header(self, request) -> str:
        return WWW_AUTHENTICATE


def _active_user(user_id):
    # The flags of the user object come in the same statement: /users/me reads them
    # without another query.
    user = selectors.user_with_flags(user_id)
    if user is None or not user_may_sign_in(user):
        raise exceptions.AuthenticationFailed(
            "This account is not active.", code="account_inactive"
        )
    return user


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer rst_…`` or ``X-API-Key: rst_…``: a scoped API key.

    A wrong (unknown or malformed) key counts as a failed sign-in against the caller's IP
    (the login policy's per-IP limit), so spraying keys locks the IP out of every door.
    """

    def authenticate(self, request):
        raw = _bearer(request)
        if raw is None or not raw.startswith(API_KEY_PREFIX):
            raw = request.META.get("HTTP_X_API_KEY")
            if raw is None:
                return None
            raw = raw.strip()
        try:
            key = apikeys.api_key_verify(raw)
        except apikeys.ApiKeyRejected as exc:
            if exc.code == "invalid_api_key":
                # Guessing counts against the IP; a job still holding a key that was revoked
                # or expired is not guessing and must not lock its address out of sign-in.
                consume_ip_attempt(request)
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from None
        # The flags of the user object (roles, email verified, MFA) in one statement: the
        # verification check, the rate limit's role and /users/me read them from here.
        user = selectors.with_flags([key.user])[0]
        if not user_may_sign_in(user):
            raise exceptions.AuthenticationFailed(
                "This account is not active.", code="account_inactive"
            )
        ensure_email_verified(user)
        apikeys.api_key_mark_used(key, ip=client_ip(request), request=request)
        return user, AuthContext(
            method="api_key",
            scopes=frozenset(key.scopes),
            expires_at=key.expires_at,
            api_key=key,
        )

    def authenticate_header(self, request) -> str:
        return WWW_AUTHENTICATE


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
