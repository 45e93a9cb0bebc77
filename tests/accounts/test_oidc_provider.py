"""Roster as an OpenID Connect provider (accounts.oidc_provider), driven by a real client.

authlib plays the relying party against the live server over HTTP: discovery, the
authorization request with PKCE, Roster's sign-in page and the consent page (a
``requests`` session stands in for the browser), the code exchange, the ID token verified against
Roster's JWKS with joserfc (authlib's JOSE library, which ``authlib.jose`` is deprecated
for), userinfo, refresh, and RP-initiated logout.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.idp.oidc.models import Client, Token
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.test import Client as DjangoClient
from joserfc import jwt
from joserfc.jwk import KeySet

from accounts import jwt_codec
from accounts.models import User
from accounts.services.users import user_set_status
from audit.models import AuditEvent
from orgs.services import organizations
from tests.pages.conftest import reseed, verified_user

PASSWORD = "correct horse battery staple"
CLIENT_ID = "roster-test-rp"
CLIENT_SECRET = "rp-secret-0042-rp-secret-0042"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
LOGOUT_URI = "http://127.0.0.1:8765/signed-out"
SCOPE = "openid profile email orgs"


def register_client() -> Client:
    """The relying party of these tests, as a platform admin would register it."""
    client = Client(
        id=CLIENT_ID,
        name="Test RP",
        type=Client.Type.CONFIDENTIAL,
        scopes="openid\nprofile\nemail\norgs",
        grant_types="authorization_code\nrefresh_token",
        response_types="code",
        redirect_uris=REDIRECT_URI,
    )
    client.set_secret(CLIENT_SECRET)
    client.set_post_logout_redirect_uris([LOGOUT_URI])
    client.save()
    return client


@pytest.fixture
def provider(live_server, settings):
    """The live server as the provider: issuer = SITE_URL = the live server's address."""
    reseed()
    settings.SITE_URL = live_server.url
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http"
    register_client()
    metadata = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10)
    assert metadata.status_code == 200
    return metadata.json()


@pytest.fixture
def person(transactional_db):
    user = verified_user("ada@example.com", PASSWORD, first_name="Ada", last_name="Lovelace")
    org = organizations.org_create(name="Acme", slug="acme", actor=user)
    return user, org


def _rp(metadata, **kwargs) -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        **kwargs,
    )


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no {name} field"
    return match.group(1).replace("&quot;", '"').replace("&amp;", "&")


def _signed_in_browser(base: str, user) -> requests.Session:
    """A browser holding a Roster session of ``user`` (Django's test login, its cookie
    handed to a ``requests`` session that talks to the live server)."""
    django_client = DjangoClient()
    django_client.force_login(user)
    browser = requests.Session()
    cookie = django_client.cookies[settings.SESSION_COOKIE_NAME]
    browser.cookies.set(cookie.key, cookie.value)
    return browser


def _sign_in_on_the_page(browser: requests.Session, base: str, login_url: str, email: str):
    """Roster's sign-in page, as a browser fills it; returns where it sends the user next."""
    page = browser.get(login_url, timeout=10)
    assert page.status_code == 200
    response = browser.post(
        page.url,
        data={
            "csrfmiddlewaretoken": _field(page.text, "csrfmiddlewaretoken"),
            "login": email,
            "password": PASSWORD,
            "next": parse_qs(urlsplit(page.url).query)["next"][0],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def _consent(browser: requests.Session, base: str, authorize_url: str, scopes: list[str]):
    page = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text[:500]
    granted = browser.post(
        f"{base}/identity/o/authorize",
        data={
            "csrfmiddlewaretoken": _field(page.text, "csrfmiddlewaretoken"),
            "request": _field(page.text, "request"),
            "scopes": scopes,
            "action": "grant",
        },
        headers={"Referer": authorize_url},
        allow_redirects=False,
        timeout=10,
    )
    return page, granted


def _authorize(metadata, rp, browser, base, *, nonce="n-0042"):
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    page, granted = _consent(browser, base, url, SCOPE.split())
    assert granted.status_code == 302, granted.text[:500]
    location = granted.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    assert parse_qs(urlsplit(location).query)["state"] == [state]
    return page, location, verifier


def _verify_id_token(id_token: str, metadata, *, nonce: str | None = None):
    jwks = requests.get(metadata["jwks_uri"], timeout=10).json()
    decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    options = {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "aud": {"essential": True, "value": CLIENT_ID},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    jwt.JWTClaimsRegistry(**options).validate(decoded.claims)
    assert decoded.header["kid"] in {key["kid"] for key in jwks["keys"]}
    return decoded.claims


def test_full_flow(provider, person, live_server):
    user, org = person
    base = live_server.url
    metadata = provider
    assert metadata["issuer"] == base
    assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(SCOPE.split()) <= set(metadata["scopes_supported"])
    assert "device_authorization_endpoint" not in metadata

    rp = _rp(metadata)
    verifier = generate_token(48)
    authorize_url, state = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n-0042"
    )
    # Not signed in: Roster's sign-in page first, then back to the authorization request.
    browser = requests.Session()
    first = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert first.status_code == 302 and "/accounts/login/" in first.headers["Location"]
    back = _sign_in_on_the_page(browser, base, base + first.headers["Location"], user.email)
    assert base + back == authorize_url

    page, granted = _consent(browser, base, authorize_url, SCOPE.split())
    # The consent page lists what the client gets, in Roster's layout.
    assert "Sign in to Test RP with Roster" in page.text
    assert "The organizations you belong to and your roles in them" in page.text
    assert "Your email address and whether it is verified" in page.text
    assert 'class="site-header"' in page.text
    assert granted.status_code == 302
    callback = granted.headers["Location"]
    assert callback.startswith(REDIRECT_URI + "?")
    assert parse_qs(urlsplit(callback).query)["state"] == [state]

    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    assert {"access_token", "id_token", "refresh_token"} <= set(token)

    # The ID token verifies against Roster's own JWKS, under the key access tokens use.
    claims = _verify_id_token(token["id_token"], metadata, nonce="n-0042")
    assert jwt_header_kid(token["id_token"]) == jwt_codec.keyset().signing.kid
    assert claims["sub"] == str(user.pk)
    assert claims["email"] == "ada@example.com" and claims["email_verified"] is True
    assert claims["name"] == "Ada Lovelace"
    assert claims["orgs"] == [
        {"id": str(org.pk), "slug": "acme", "name": "Acme", "roles": ["owner"]}
    ]

    info = rp.get(metadata["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200
    assert info.json()["sub"] == str(user.pk)
    assert info.json()["orgs"][0]["slug"] == "acme"

    # Refresh: a new pair; the old refresh token is spent.
    old_refresh = token["refresh_token"]
    refreshed = rp.refresh_token(metadata["token_endpoint"], refresh_token=old_refresh)
    assert refreshed["refresh_token"] != old_refresh
    assert refreshed["access_token"] != token["access_token"]
    assert _verify_id_token(refreshed["id_token"], metadata)["sub"] == str(user.pk)
    again = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # The audit trail: the grant and both token responses, no token value in them.
    events = list(AuditEvent.objects.filter(action__startswith="oidc.").order_by("id"))
    assert [e.action for e in events] == [
        "oidc.authorized",
        "oidc.token.issued",
        "oidc.token.issued",
    ]
    assert events[0].actor_id == str(user.pk)
    assert events[0].target_id == CLIENT_ID
    assert events[1].metadata["grant_type"] == "authorization_code"
    assert events[2].metadata["grant_type"] == "refresh_token"
    for event in events:
        text = repr(event.metadata) + repr(event.changes)
        for secret in (token["access_token"], old_refresh, refreshed["access_token"]):
            assert secret not in text

    # RP-initiated logout with the ID token as hint: signed out of Roster at once, tokens
    # of this client revoked, back to the client's post-logout URI with its state.
    bye = browser.get(
        metadata["end_session_endpoint"],
        params={
            "id_token_hint": refreshed["id_token"],
            "client_id": CLIENT_ID,
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "bye-1",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert bye.status_code == 302
    assert bye.headers["Location"] == f"{LOGOUT_URI}?state=bye-1"
    assert not Token.objects.filter(user=user, client_id=CLIENT_ID).exists()
    after = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert after.status_code == 302 and "/accounts/login/" in after.headers["Location"]
    gone = rp.get(metadata["userinfo_endpoint"], timeout=10)
    assert gone.status_code == 401


def jwt_header_kid(id_token: str) -> str:
    import base64
    import json

    header = id_token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_refused_requests(provider, person, live_server):
    user, _ = person
    base = live_server.url
    metadata = provider
    rp = _rp(metadata)
    browser = _signed_in_browser(base, user)
    verifier = generate_token(48)
    challenge = create_s256_code_challenge(verifier)
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    endpoint = metadata["authorization_endpoint"]

    def authorize(**changes):
        query = {k: v for k, v in {**params, **changes}.items() if v is not None}
        return browser.get(endpoint, params=query, allow_redirects=False, timeout=10)

    # A redirect URI the client did not register: an error page, never a redirect.
    wrong = authorize(redirect_uri="http://127.0.0.1:8765/elsewhere")
    assert wrong.status_code == 400 and "Location" not in wrong.headers
    # An unknown client: the same.
    assert authorize(client_id="nobody").status_code == 400
    # No PKCE, or PKCE without S256.
    missing = authorize(code_challenge=None, code_challenge_method=None)
    assert missing.status_code == 400 and "code challenge" in missing.text
    assert authorize(code_challenge_method="plain").status_code == 400
    # A scope the client was not given comes back to the client as invalid_scope.
    bad_scope = authorize(scope="openid admin")
    assert bad_scope.status_code == 302
    assert parse_qs(urlsplit(bad_scope.headers["Location"]).query)["error"] == ["invalid_scope"]
    assert not AuditEvent.objects.filter(action="oidc.authorized").exists()

    # A code is spent by its exchange; a second exchange fails, and so does a wrong verifier.
    _, callback, verifier = _authorize(metadata, rp, browser, base)
    code = parse_qs(urlsplit(callback).query)["code"][0]

    def exchange(code_verifier, redirect_uri=REDIRECT_URI):
        return requests.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )

    assert exchange("x" * 48).json()["error"] == "invalid_grant"
    other_uri = exchange(verifier, redirect_uri="http://127.0.0.1:8765/elsewhere")
    assert other_uri.status_code in (400, 401)
    first = exchange(verifier)
    assert first.status_code == 200, first.text
    reused = exchange(verifier)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # A wrong client secret.
    wrong_secret = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=(CLIENT_ID, "not-the-secret"),
        timeout=10,
    )
    assert wrong_secret.status_code == 401
    assert AuditEvent.objects.filter(action="oidc.token.issued").count() == 1


def test_suspended_user(provider, person, live_server, admin_user):
    user, _ = person
    base = live_server.url
    metadata = provider
    rp = _rp(metadata)
    browser = _signed_in_browser(base, user)
    _, callback, verifier = _authorize(metadata, rp, browser, base)
    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    # A code issued before the suspension is refused after it, as are the tokens.
    _, pending_callback, pending_verifier = _authorize(metadata, rp, browser, base)
    user_set_status(user=User.objects.get(pk=user.pk), status="suspended", actor=admin_user)

    pending = requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": parse_qs(urlsplit(pending_callback).query)["code"][0],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": pending_verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert pending.status_code == 400 and pending.json()["error"] == "invalid_grant"
    assert rp.get(metadata["userinfo_endpoint"], timeout=10).status_code == 401
    refused = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The browser session is gone too: the authorization request asks for a sign-in, and
    # the suspended account cannot sign in.
    url, _ = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48)
    )
    again = browser.get(url, allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "/accounts/login/" in again.headers["Location"]
    assert AuditEvent.objects.filter(action="oidc.authorized").count() == 2


def test_consent_choices_and_silent_authorization(provider, person, live_server):
    user, _ = person
    base = live_server.url
    metadata = provider
    rp = _rp(metadata)
    browser = _signed_in_browser(base, user)

    # Silent authorization before any grant to this client: consent_required, no code.
    silent_url, state = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48), prompt="none"
    )
    silent = browser.get(silent_url, allow_redirects=False, timeout=10)
    assert silent.status_code == 302
    answer = parse_qs(urlsplit(silent.headers["Location"]).query)
    assert answer == {"error": ["consent_required"], "state": [state]}

    # Cancel: access_denied back to the client, nothing granted or audited.
    url, state = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48)
    )
    page = browser.get(url, allow_redirects=False, timeout=10)
    cancel = browser.post(
        f"{base}/identity/o/authorize",
        data={
            "csrfmiddlewaretoken": _field(page.text, "csrfmiddlewaretoken"),
            "request": _field(page.text, "request"),
            "scopes": SCOPE.split(),
            "action": "cancel",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert cancel.status_code == 302
    assert parse_qs(urlsplit(cancel.headers["Location"]).query)["error"] == ["access_denied"]
    assert not AuditEvent.objects.filter(action="oidc.authorized").exists()

    # Unticking orgs: the client gets no memberships.
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n-1"
    )
    _, granted = _consent(browser, base, url, ["openid", "email"])
    token = rp.fetch_token(
        metadata["token_endpoint"],
        authorization_response=granted.headers["Location"],
        code_verifier=verifier,
    )
    claims = _verify_id_token(token["id_token"], metadata, nonce="n-1")
    assert "orgs" not in claims and "name" not in claims and claims["email"] == user.email
    assert "orgs" not in rp.get(metadata["userinfo_endpoint"], timeout=10).json()
    event = AuditEvent.objects.get(action="oidc.authorized")
    assert event.metadata["scopes"] == ["email", "openid"]

    # Now silent authorization of those scopes works (and is audited); of more, it does not.
    quiet_url, _ = rp.create_authorization_url(
        metadata["authorization_endpoint"],
        code_verifier=generate_token(48),
        prompt="none",
        scope="openid email",
    )
    quiet = browser.get(quiet_url, allow_redirects=False, timeout=10)
    assert quiet.status_code == 302 and "code" in parse_qs(
        urlsplit(quiet.headers["Location"]).query
    )
    assert AuditEvent.objects.filter(action="oidc.authorized").count() == 2
    more = browser.get(silent_url, allow_redirects=False, timeout=10)
    assert parse_qs(urlsplit(more.headers["Location"]).query)["error"] == ["consent_required"]

    # A malformed logout request is a 400 page, not a redirect.
    bad = browser.get(
        metadata["end_session_endpoint"],
        params={"client_id": CLIENT_ID, "post_logout_redirect_uri": "https://elsewhere.example/"},
        allow_redirects=False,
        timeout=10,
    )
    assert bad.status_code == 400 and "Location" not in bad.headers


@pytest.mark.django_db
def test_orgs_claim_lists_active_memberships_of_live_organizations():
    from orgs.models import Membership, Organization
    from orgs.oidc_provider import memberships_claim

    user = verified_user("lin@example.com", PASSWORD)
    acme = organizations.org_create(name="Acme", slug="acme", actor=user)
    gone = organizations.org_create(name="Gone", slug="gone", actor=user)
    paused = organizations.org_create(name="Paused", slug="paused", actor=user)
    Organization.objects.filter(pk=gone.pk).update(status=Organization.Status.ARCHIVED)
    Membership.objects.filter(organization=paused, user=user).update(
        status=Membership.Status.SUSPENDED
    )
    assert memberships_claim(user=user) == [
        {"id": str(acme.pk), "slug": "acme", "name": "Acme", "roles": ["owner"]}
    ]


def test_id_tokens_follow_a_key_rotation(settings):
    """Two keys (a rotation): the newest signs, both are offered, under the JWKS's kids."""
    from allauth.core.internal import jwkkit
    from allauth.idp.oidc.adapter import get_adapter
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    new = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    old = settings.JWT_SIGNING_KEYS[0]
    settings.JWT_SIGNING_KEYS = [new, old]
    adapter = get_adapter()
    assert adapter.get_signing_key().pem == new
    offered = [jwkkit.load_jwk_from_pem(key.pem)[0]["kid"] for key in adapter.list_private_keys()]
    assert offered == [key["kid"] for key in jwt_codec.jwks()["keys"]]
    assert offered[0] == jwt_codec.keyset().signing.kid
