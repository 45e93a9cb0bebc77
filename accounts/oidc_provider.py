"""Roster as an OpenID Connect provider ("Sign in with Roster"), on ``allauth.idp.oidc``.

allauth runs the protocol (discovery, authorization code with PKCE, token, refresh,
userinfo, revocation, RP-initiated logout); Roster configures it here:

- **Keys**: ID tokens are signed with Roster's JWT signing key, ``settings.JWT_SIGNING_KEYS``
  (newest first, the one list ``accounts.tokens`` signs access tokens with). Both sides name
  a key by its RFC 7638 thumbprint, so ``/.well-known/jwks.json`` (``accounts.jwt_codec.jwks``)
  is the JWKS of the provider too and verifies every ID token; a key rotation rotates both.
- **Issuer**: ``SITE_URL``, the address discovery is served under (not the request's host,
  which a proxy may rewrite).
- **Subjects**: only an active account is a subject. A suspended or deactivated user cannot
  authorize (no session, and refused here if one slipped through), and their codes, refresh
  tokens and access tokens stop working at once (allauth asks ``get_user_by_sub`` or checks
  ``is_active``, which the database keeps equal to ``status == active``).
- **PKCE** (S256) is required of every client, confidential ones included.
- **Silent authorization** (``prompt=none``) needs live tokens of *this* client covering
  the scopes (allauth accepts those of any client); otherwise ``consent_required``.
- **Audit**: a granted authorization is ``oidc.authorized``, every token response
  ``oidc.token.issued`` (grant type, scopes; never a token), in the token's transaction.
- **Errors** on the provider's pages (unknown client, wrong redirect URI, bad logout
  request) answer 400 with allauth's error page instead of 200.

Scopes beyond ``openid profile email`` come from the layers above: ``orgs.oidc_provider``
subclasses this adapter with the ``orgs`` scope (accounts never imports orgs), and
``IDP_OIDC_ADAPTER`` names that subclass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from allauth.idp.oidc.adapter import DefaultOIDCAdapter
from allauth.idp.oidc.models import Client, PrivateKey, Token
from allauth.idp.oidc.views import (
    AuthorizationView,
    LogoutView,
    TokenView,
    respond_html_error,
)
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from oauthlib.oauth2.rfc6749.errors import InvalidRequestError

from accounts.models import User
from audit.services import record

# The scopes of every client (the subclasses add theirs: extra_scopes).
BASE_SCOPES = ("openid", "profile", "email")
PKCE_METHOD = "S256"


class OIDCProviderAdapter(DefaultOIDCAdapter):
    """allauth's OIDC adapter with Roster's keys, issuer, subjects and claims."""

    scope_display = {
        "openid": _("Your Roster user ID"),
        "profile": _("Your name, username, time zone and language"),
        "email": _("Your email address and whether it is verified"),
    }
    # Scopes the subclasses add, each with its claims (``scope_claims``).
    extra_scopes: tuple[str, ...] = ()

    @classmethod
    def supported_scopes(cls) -> tuple[str, ...]:
        return BASE_SCOPES + cls.extra_scopes

    def get_issuer(self) -> str:
        return settings.SITE_URL.rstrip("/")

    def list_private_keys(
        self,
        *,
        did_activate: Literal[True] | None = None,
        is_active: Literal[True] | None = None,
    ) -> list[PrivateKey]:
        # Roster's keys have no activation window: every configured key verifies.
        return [PrivateKey(pem=pem) for pem in settings.JWT_SIGNING_KEYS]

    def get_signing_key(self) -> PrivateKey:
        # The first key signs, as for access tokens (config.keys: newest first).
        return self.list_private_keys()[0]

    def get_user_by_sub(self, client: Client, sub: str) -> User | None:
        user = super().get_user_by_sub(client, sub)
        if user is None or user.status != User.Status.ACTIVE:
            return None
        return user

    def get_claims(
        self,
        purpose: Literal["id_token", "userinfo"],
        user: User,
        client: Client,
        scopes: Iterable[str],
        email: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        scopes = list(scopes)
        claims = super().get_claims(purpose, user, client, scopes, email=email, **kwargs)
        if "profile" in scopes:
            if user.display_name:
                claims["nickname"] = user.display_name
            claims["zoneinfo"] = user.timezone or "UTC"
            claims["locale"] = user.locale or "en"
        for scope in self.extra_scopes:
            if scope in scopes:
                claims.update(self.scope_claims(scope, user=user))
        return claims

    def scope_claims(self, scope: str, *, user: User) -> dict[str, Any]:
        """The claims of one of ``extra_scopes`` (the subclass that adds it answers)."""
        raise NotImplementedError(scope)

    def populate_server_metadata(self, data: dict[str, Any]) -> None:
        data["scopes_supported"] = list(self.supported_scopes())
        data["claims_supported"] = [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nonce",
            "email",
            "email_verified",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "nickname",
            "zoneinfo",
            "locale",
            *self.extra_scopes,
        ]
        # allauth serves the code flow only with PKCE here (see AuthorizeView).
        data["grant_types_supported"] = [
            Client.GrantType.AUTHORIZATION_CODE.value,
            Client.GrantType.REFRESH_TOKEN.value,
        ]
        data["response_types_supported"] = [Client.ResponseType.CODE.value]
        # No client may use the device grant (accounts.oidc_provider_admin).
        data.pop("device_authorization_endpoint", None)


def _error_page(request, description: str) -> HttpResponse:
    """allauth's error page (Roster's layout), with a 400."""
    response = respond_html_error(request, error=InvalidRequestError(description=description))
    response.status_code = 400
    return response


def _as_client_error(response: HttpResponse) -> HttpResponse:
    # allauth renders its error page (a plain response, while its forms are
    # TemplateResponses) with status 200; a request the provider refuses is a 400.
    if response.status_code == 200 and not isinstance(response, TemplateResponse):
        response.status_code = 400
    return response


def _redirect_to_client(redirect_uri: str, params: dict[str, str]) -> HttpResponse:
    # A plain 302: HttpResponseRedirect refuses the custom schemes of native clients.
    response = HttpResponse(status=302)
    separator = "&" if "?" in redirect_uri else "?"
    response["Location"] = f"{redirect_uri}{separator}{urlencode(params)}"
    return response


def _issued_code(response: HttpResponse) -> bool:
    location = response.get("Location", "") if response.status_code == 302 else ""
    return "code" in parse_qs(urlsplit(location).query)


class AuthorizeView(AuthorizationView):
    """allauth's authorization endpoint: PKCE (S256) required, active accounts only, silent
    authorization (``prompt=none``) only for a client the user already granted, every grant
    audited."""

    def get(self, request, *args, **kwargs):
        refused = self._refuse(request, request.GET)
        if refused is not None:
            return refused
        response = _as_client_error(super().get(request, *args, **kwargs))
        if "none" in request.GET.get("prompt", "").split() and _issued_code(response):
            self._record(request.GET.get("client_id", ""), request.GET.get("scope", "").split())
        return response

    def post(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.status != User.Status.ACTIVE:
            return _error_page(request, "This account cannot authorize applications.")
        # A POST without the signed request is allauth's "authorization request by POST",
        # which it redirects to the GET form, where the other checks apply.
        return _as_client_error(super().post(request, *args, **kwargs))

    def _refuse(self, request, params) -> HttpResponse | None:
        user = request.user
        if user.is_authenticated and user.status != User.Status.ACTIVE:
            return _error_page(request, "This account cannot authorize applications.")
        if "code" in params.get("response_type", "").split():
            if not params.get("code_challenge"):
                return _error_page(request, "A PKCE code challenge (S256) is required.")
            if params.get("code_challenge_method") != PKCE_METHOD:
                return _error_page(request, "The code challenge method must be S256.")
        if "none" in params.get("prompt", "").split() and user.is_authenticated:
            return self._silent_without_grant(request, params)
        return None

    def _silent_without_grant(self, request, params) -> HttpResponse | None:
        """allauth answers ``prompt=none`` when tokens of *any* client cover the scopes;
        Roster asks that this client holds them, or answers ``consent_required``."""
        client = Client.objects.filter(id=params.get("client_id", "")).first()
        redirect_uri = params.get("redirect_uri", "")
        if client is None or redirect_uri not in client.get_redirect_uris():
            return None  # allauth refuses these with its error page
        wanted = set(params.get("scope", "").split()) or set(client.get_default_scopes())
        granted: set[str] = set()
        for token in Token.objects.valid().filter(
            user=request.user,
            client=client,
            type__in=[Token.Type.ACCESS_TOKEN, Token.Type.REFRESH_TOKEN],
        ):
            granted.update(token.get_scopes())
        if wanted and wanted <= granted:
            return None
        answer = {"error": "consent_required"}
        if params.get("state"):
            answer["state"] = params["state"]
        return _redirect_to_client(redirect_uri, answer)

    def _record(self, client_id: str, scopes) -> None:
        record(
            action="oidc.authorized",
            actor=self.request.user,
            target=("oidc_client", client_id),
            request=self.request,
            metadata={"scopes": sorted(scopes)},
        )

    def form_valid(self, form):
        response = super().form_valid(form)
        if _issued_code(response):
            self._record(self._request_info["client_id"], form.cleaned_data["scopes"])
        return _as_client_error(response)


class IssueTokenView(TokenView):
    """allauth's token endpoint; every token it issues is audited in its transaction."""

    def post(self, request):
        with transaction.atomic():
            response = super().post(request)
            if response.status_code == 200:
                _record_issued(request, response)
        return response


def _record_issued(request, response: HttpResponse) -> None:
    body = json.loads(response.content)
    token = (
        Token.objects.by_value(body.get("access_token", ""))
        .filter(type=Token.Type.ACCESS_TOKEN)
        .select_related("user", "client")
        .first()
    )
    if token is None:
        return
    record(
        action="oidc.token.issued",
        actor=token.user,
        target=("oidc_client", token.client_id),
        request=request,
        metadata={
            "grant_type": request.POST.get("grant_type", ""),
            "scopes": sorted(token.get_scopes()),
            # What the response held (never a value): access, id, refresh.
            "issued": [
                part
                for part, key in (
                    ("access", "access_token"),
                    ("id", "id_token"),
                    ("refresh", "refresh_token"),
                )
                if key in body
            ],
        },
    )


class EndSessionView(LogoutView):
    """allauth's RP-initiated logout; a malformed request is a 400."""

    def get(self, request, *args, **kwargs):
        return _as_client_error(super().get(request, *args, **kwargs))

    def post(self, request, *args, **kwargs):
        return _as_client_error(super().post(request, *args, **kwargs))


authorize = AuthorizeView.as_view()
issue_token = IssueTokenView.as_view()
end_session = EndSessionView.as_view()
