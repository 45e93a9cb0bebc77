"""The sign-in door of the API (``/auth/*``, the JWKS). Thin: every rule lives in
accounts.flows, accounts.tokens and accounts.sessions. The caller's sessions and API keys
are ``accounts.api.sessions_views``."""

from __future__ import annotations

from django.contrib.auth import logout as django_logout
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import hooks, jwt_codec, selectors, sessions, tokens
from accounts.api import auth_serializers as s
from accounts.api.users_serializers import UserSerializer
from accounts.flows import login, mfa, password, signup
from accounts.flows.login import MFA_SETUP_REQUIRED, ensure_mfa_policy_met
from accounts.models import User
from accounts.policy_rules import password_expired
from accounts.validators import PASSWORD_ERROR_CODES
from audit.services import record
from config.api.permissions import API_KEY_SCOPES, NotApiKey
from config.errors import Forbidden, Unauthenticated

AUTH_TAG = ["auth"]


def _token_rejected(exc: tokens.TokenRejected) -> Unauthenticated:
    return Unauthenticated(exc.code, exc.detail)


class PublicView(APIView):
    """Open to anyone: no credentials are read (a stale token must not block a login)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]


# The organization a token request names cannot be used (unknown, not a member, archived).
_ORG_ERRORS = [hooks.ORGANIZATION_UNAVAILABLE]

_ORG_DESCRIPTION = (
    "\n\n**Active organization.** Name one with `organization` (its id or slug) and the "
    "access tokens carry `org` (its id), `org_roles` (your role keys there) and "
    "`permissions` (your organization-wide permissions there, as "
    "`GET /users/me/permissions` computes them), worked out when the tokens are minted. "
    "An unknown organization, one you are not an active member of (suspended members "
    "included) and an archived one all give the same 400 `organization_unavailable` "
    "(nothing says whether it exists), after the credentials are checked. When the "
    "organization later removes or suspends you, or is archived, the API session naming it "
    "is revoked at once: its next request is 401 `token_revoked` (sessions naming another "
    "organization or none are untouched). Role changes show in the claims at the next "
    "refresh; every permission check asks the database, not the claims."
)


_POLICY_DESCRIPTION = (
    "\n\n**Security policies.** When a policy requires a second factor of the account, its "
    "grace period has passed and none is set up, the answer is 403 `mfa_setup_required` "
    "(set one up on the pages; nothing is issued). When the password has expired (the "
    "password policy's `expiry_days`), the answer is 200 `{password_change_required: true, "
    "password_change_token}` and no tokens: `POST /auth/token/password` with a new password "
    "gives the tokens."
)


def _sign_in_end(request, user: User, *, method: str, organization: str | None) -> Response:
    """The last steps of a sign-in whose credentials (and second factor) are checked: the
    MFA policy, then the password's expiry, then the tokens."""
    ensure_mfa_policy_met(user)
    if password_expired(user):
        tokens.organization_check(user=user, organization=organization)
        ticket = password.password_change_ticket_create(user, organization=organization)
        return Response({"password_change_required": True, "password_change_token": ticket})
    pair = tokens.token_issue(user=user, request=request, method=method, organization=organization)
    return Response(pair.as_response())


def _token_or_password_change(name: str, *others) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name=name,
        serializers=[s.TokenPairSerializer, *others, s.PasswordChangeRequiredSerializer],
        resource_type_field_name=None,
    )


class TokenView(PublicView):
    error_codes = {
        400: ["required", *_ORG_ERRORS],
        401: ["invalid_credentials"],
        403: ["email_unverified", "mfa_method_unavailable", MFA_SETUP_REQUIRED],
        429: ["too_many_attempts"],
    }
    throttle_scope = "token"  # stricter per-IP bucket (config.api.throttling)

    @extend_schema(
        tags=AUTH_TAG,
        summary="Sign in with email (or username) and password",
        description=(
            "Returns a token pair and opens an API session. Unknown email, wrong password and "
            "inactive accounts all give 401 `invalid_credentials`. With email verification "
            "mandatory, an unverified address gives 403 `email_unverified`. After too many "
            "failures for the account or the IP (shared with the sign-in page) every attempt "
            "gets 429 `too_many_attempts` with `Retry-After`, even with the right password. "
            "With MFA active the answer is `{mfa_required, mfa_token, methods}` and no tokens "
            "(`methods`: `totp`, `sms`, `recovery_codes`, those the account has); "
            "the organization is checked then, and named again at `POST /auth/token/mfa`."
            + _POLICY_DESCRIPTION
            + _ORG_DESCRIPTION
        ),
        request=s.TokenRequestSerializer,
        responses={200: _token_or_password_change("TokenOrNextStep", s.MfaRequiredSerializer)},
        auth=[],
    )
    def post(self, request):
        data = _valid(s.TokenRequestSerializer, request)
        email = data.get("email") or _email_for_username(data["username"])
        user = login.authenticate_password(
            request, email=email, password=data["password"], door="api"
        )
        organization = data.get("organization") or None
        if selectors.has_mfa(user):
            tokens.organization_check(user=user, organization=organization)
            methods = mfa.mfa_methods(user)
            if not methods:
                raise Forbidden(
                    "mfa_method_unavailable",
                    "This account's second factor cannot be used through the API; add an "
                    "authenticator app, a phone for SMS codes or recovery codes on the "
                    "security page.",
                )
            return Response(
                {
                    "mfa_required": True,
                    "mfa_token": mfa.mfa_challenge_create(user),
                    "methods": methods,
                }
            )
        return _sign_in_end(request, user, method="password", organization=organization)


def _email_for_username(username: str) -> str:
    email = User.objects.filter(username__iexact=username).values_list("email", flat=True).first()
    # An unknown username gets its own counter and the same (hashed) failure.
    return email or f"username:{username.lower()}"


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class TokenMfaView(PublicView):
    error_codes = {
        400: _ORG_ERRORS,
        401: ["invalid_code", "invalid_mfa_token"],
        # The second factor was removed between the two steps while a policy requires one.
        403: [MFA_SETUP_REQUIRED],
        429: ["too_many_attempts"],
    }
    throttle_scope = "mfa"  # stricter per-IP bucket (config.api.throttling)

    @extend_schema(
        tags=AUTH_TAG,
        summary="Second step of a sign-in with MFA",
        description=(
            "Exchange the `mfa_token` and a TOTP code, a code sent by SMS "
            "(`POST /auth/token/mfa/sms`) or a recovery code for tokens. A wrong code is "
            "401 `invalid_code` (the mfa_token stays usable for a few tries until it expires); "
            "an expired or spent mfa_token is 401 `invalid_mfa_token`. A recovery code works "
            "once. Failed codes count towards the sign-in limits (429 `too_many_attempts`). "
            "An expired password is asked for next: 200 `{password_change_required, "
            "password_change_token}` and no tokens (see `POST /auth/token/password`)."
            + _ORG_DESCRIPTION
        ),
        request=s.MfaRequestSerializer,
        responses={200: _token_or_password_change("TokenOrPasswordChange")},
        auth=[],
    )
    def post(self, request):
        data = _valid(s.MfaRequestSerializer, request)
        result = mfa.mfa_challenge_complete(request, mfa_token=data["mfa_token"], code=data["code"])
        return _sign_in_end(
            request,
            result.user,
            method=f"password+{result.method}",
            organization=data.get("organization") or None,
        )


class TokenPasswordView(PublicView):
    error_codes = {
        400: [*PASSWORD_ERROR_CODES, *_ORG_ERRORS],
        401: ["invalid_password_change_token", "invalid_credentials"],
        403: ["email_unverified", MFA_SETUP_REQUIRED],
    }
    throttle_scope = "mfa"  # the same stricter per-IP bucket as the second factor

    @extend_schema(
        tags=AUTH_TAG,
        summary="Replace an expired password and get the tokens",
        description=(
            "The step after `POST /auth/token` (or `/auth/token/mfa`) answered "
            "`password_change_required`. The `password_change_token` is short-lived (5 "
            "minutes), kept hashed and single-use: a new password that the rules refuse is "
            "400 naming `new_password` with the validators' codes (the password policy, "
            "`password_reused` for one of the last `history` passwords, the expired one "
            "included) and the token stays usable for a few tries; an expired or spent "
            "token is 401 `invalid_password_change_token`. On success the password is "
            "changed (audited `auth.password.changed`, reason `password_expired`; the "
            "account's other sessions end, its API keys stay) and the tokens are issued, "
            "with the organization named at the first step. A second factor that a policy "
            "requires and the account lacks is 403 `mfa_setup_required` (the password is "
            "changed first)."
        ),
        request=s.TokenPasswordRequestSerializer,
        responses={200: s.TokenPairSerializer},
        auth=[],
    )
    def post(self, request):
        data = _valid(s.TokenPasswordRequestSerializer, request)
        user, organization = password.password_change_ticket_use(
            request, token=data["password_change_token"], new_password=data["new_password"]
        )
        ensure_mfa_policy_met(user)
        pair = tokens.token_issue(
            user=user, request=request, method="password+change", organization=organization
        )
        return Response(pair.as_response())


class TokenRefreshView(PublicView):
    error_codes = {
        400: _ORG_ERRORS,
        403: ["email_unverified", MFA_SETUP_REQUIRED],
        401: [
            "token_invalid",
            "token_expired",
            "token_reused",
            "token_revoked",
            "token_wrong_type",
            "token_unknown_key",
            "account_inactive",
            tokens.SESSION_EXPIRED,
        ],
    }

    @extend_schema(
        tags=AUTH_TAG,
        summary="Rotate the refresh token",
        description=(
            "Returns a new pair; the presented refresh token stops working. Presenting an "
            "already rotated refresh token is 401 `token_reused` and revokes the whole API "
            "session. An access token given here is 401 `token_wrong_type`. An API session "
            "has an absolute lifetime from its token login (`API_SESSION_MAX_LIFETIME`, 30 "
            "days by default; the `session` security policy's `refresh_absolute_days`): after "
            "it, refresh is 401 `session_expired` however active the session was, and the "
            "client signs in again. An unused session ends after `refresh_idle_days`; each new "
            "access token lives `access_token_minutes` (the policy in force at the refresh). "
            "A second factor that a policy requires, past its grace period, and not set up: "
            "403 `mfa_setup_required` (the refresh token stays usable once one is).\n\n"
            "**Switching organization.** `organization` (id or slug) makes it the session's "
            "active organization from this pair on; left out, the session keeps its own (its "
            'roles and permissions are read again); `null` or `""` clears it. An '
            "organization you may not use is 400 `organization_unavailable` and the presented "
            "refresh token stays usable. If the kept organization no longer has you, the "
            "session is revoked: 401 `token_revoked`." + _ORG_DESCRIPTION
        ),
        request=s.RefreshRequestSerializer,
        responses={200: s.TokenPairSerializer},
        auth=[],
    )
    def post(self, request):
        data = _valid(s.RefreshRequestSerializer, request)
        organization = data.get("organization", tokens.KEEP_ORGANIZATION)
        try:
            pair = tokens.token_refresh(
                raw_refresh=data["refresh"], request=request, organization=organization
            )
        except tokens.TokenRejected as exc:
            raise _token_rejected(exc) from None
        return Response(pair.as_response())


class LogoutView(APIView):
    permission_classes = [permissions.IsAuthenticated, NotApiKey]
    open_during_cache_outage = True

    @extend_schema(
        tags=AUTH_TAG,
        summary="Sign out",
        description=(
            "With a JWT: revokes the caller's API session (its refresh token and, at once, its "
            "access tokens). With the browser session: ends that session. API keys: 403. "
            "While the cache (Redis) is unreachable, signing out with a JWT still works: the "
            "session is revoked in the database (its refresh token is refused at once; every "
            "request with its access tokens is refused, as the database is asked instead of "
            "the cache), and the cache is told as soon as it answers again."
        ),
        request=None,
        responses={204: None},
    )
    def post(self, request):
        auth = request.auth
        if auth.method == "jwt":
            tokens.token_logout(session_id=auth.session_id, user=request.user, request=request)
        else:
            user = request.user
            django_logout(request._request)
            # audit.receivers leaves /api/ logouts to the API door.
            record(
                action="auth.logout",
                actor=user,
                target=user,
                request=request,
                metadata={"door": "api", "method": "session"},
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


_DATETIME = serializers.DateTimeField()


class StatusView(APIView):
    # Any API key may ask who it is and which scopes it holds.
    api_key_without_scope = True

    @extend_schema(
        tags=AUTH_TAG,
        summary="Who am I, and how did I sign in",
        responses={200: s.StatusSerializer},
    )
    def get(self, request):
        user, auth = request.user, request.auth
        mfa_enabled, email_verified = selectors.auth_flags(user)
        session_id = None
        expires_at = auth.expires_at
        if auth.method == "jwt":
            session_id = auth.session_id
        elif auth.method == "session":
            session_id = sessions.web_session_id(auth.session_id) if auth.session_id else None
            expires_at = request._request.session.get_expiry_date()
        scopes = sorted(auth.scopes, key=API_KEY_SCOPES.index) if auth.scopes is not None else None
        # Built by hand (the schema is StatusSerializer): instantiating a serializer costs
        # more CPU than the rest of this view on a request that every client makes often.
        body = {
            "authenticated": True,
            "user": {"id": str(user.pk), "email": user.email},
            "method": auth.method,
            "session_id": session_id,
            "scopes": list(API_KEY_SCOPES) if scopes is None else scopes,
            "expires_at": _DATETIME.to_representation(expires_at) if expires_at else None,
            "mfa_enabled": mfa_enabled,
            "email_verified": email_verified,
        }
        return Response(body)


class RegisterView(PublicView):
    error_codes = {
        400: [*PASSWORD_ERROR_CODES, "invalid_username", "invalid_characters"],
        403: ["signup_closed"],
        409: ["email_taken", "username_taken"],
        429: ["too_many_attempts"],
    }
    throttle_scope = "register"  # stricter per-IP bucket (config.api.throttling)

    @extend_schema(
        tags=AUTH_TAG,
        summary="Create an account",
        description=(
            "The sign-up page's rules: password validators (every failing validator's code is "
            "passed through, e.g. `password_too_short`, `password_too_common`), unique username "
            "(409 `username_taken`), the sign-up rate limit (429), and a confirmation email "
            "when email verification is on. No tokens are returned: sign in next.\n\n"
            "**Email verification `optional` or `none`** (the default is `optional`): 201 with "
            "the new user; an address that already has an account is 409 `email_taken`.\n\n"
            "**Email verification `mandatory`**: 202 `{detail}` whether or not the address "
            "already has an account, so the answer does not reveal it (as the sign-up page). "
            "A new address gets its confirmation link; the owner of a taken address is mailed "
            "that someone tried to sign up with it, and no account is created."
        ),
        request=s.RegisterSerializer,
        responses={201: UserSerializer, 202: s.AcceptedSerializer},
        auth=[],
    )
    def post(self, request):
        data = _valid(s.RegisterSerializer, request)
        user = signup.user_register(
            request=request,
            email=data["email"],
            password=data["password"],
            username=data.get("username") or None,
            display_name=data.get("display_name") or "",
        )
        if user is None or signup.signup_hides_taken_addresses():
            # The same answer for a new and a taken address: the user object would tell.
            return Response(
                {"detail": "Check your email: a message about this sign-up is on its way."},
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class PasswordResetView(PublicView):
    error_codes = {429: ["too_many_attempts"]}
    throttle_scope = "password_reset"  # stricter per-IP bucket (config.api.throttling)

    @extend_schema(
        tags=AUTH_TAG,
        summary="Send a password reset email",
        description=(
            "Always 202, whether or not an account uses the address (no enumeration). Sends the "
            "same email as the reset page. Rate limited per IP and per address (429)."
        ),
        request=s.PasswordResetSerializer,
        responses={202: s.AcceptedSerializer},
        auth=[],
    )
    def post(self, request):
        data = _valid(s.PasswordResetSerializer, request)
        password.password_reset_request(request=request, email=data["email"])
        return Response(
            {"detail": "If an account uses this address, a reset email is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


class JwksView(PublicView):
    @extend_schema(
        tags=AUTH_TAG,
        summary="Public keys that verify access tokens (JWKS)",
        description=(
            "Every access token's header names a `kid` listed here. During a key rotation "
            "both keys are listed; the first one signs."
        ),
        responses={200: s.JwksSerializer},
        auth=[],
    )
    def get(self, request):
        response = Response(jwt_codec.jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response
