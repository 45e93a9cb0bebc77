"""The consent page of Roster's OpenID Connect provider in Chromium: reached from a client's
authorization request through Roster's sign-in page, in Roster's layout, no CSP violation,
and its choices reach the client (accounts/oidc_provider.py, templates/idp/oidc/)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from playwright.sync_api import expect

from orgs.services import organizations
from tests.accounts.test_oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    REDIRECT_URI,
    register_client,
)
from tests.pages.conftest import (  # noqa: F401  (the page tests' browser fixtures)
    browser_context_args,
    browser_required,
    browser_type_launch_args,
    chromium_available,
    page,
    screenshot,
    site,
    verified_user,
)

pytestmark = [
    pytest.mark.browser,
    # The page tests' rule (tests/pages/conftest.py), which a conftest elsewhere applies.
    pytest.mark.skipif(
        not chromium_available() and not browser_required(),
        reason="Chromium not found; set ROSTER_REQUIRE_BROWSER=1 to make this a failure",
    ),
]


def test_consent_page(page, site, settings):  # noqa: F811  (the fixtures imported above)
    settings.SITE_URL = site.url
    user = verified_user("grace@example.com", PASSWORD, first_name="Grace")
    organizations.org_create(name="Acme", slug="acme", actor=user)
    register_client()
    callbacks: list[str] = []

    def client_callback(route):
        callbacks.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="signed in")

    page.route(f"{REDIRECT_URI}**", client_callback)
    rp = OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope="openid profile email orgs",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(
        f"{site.url}/identity/o/authorize", code_verifier=verifier, nonce="n-7"
    )

    page.goto(url)
    expect(page).to_have_url(
        re.compile(
            r"/accounts/login/\?next=%2Fidentity%2Fo%2Fauthorize|/accounts/login/\?next=/identity/o/authorize"
        )
    )
    sign_in_here(page, user.email)

    expect(page.get_by_role("heading", name="Sign in to Test RP with Roster")).to_be_visible()
    expect(page.get_by_test_id("oidc-consent-intro")).to_contain_text("grace@example.com")
    scopes = page.get_by_test_id("oidc-scopes")
    for text in (
        "Your Roster user ID",
        "Your name, username, time zone and language",
        "Your email address and whether it is verified",
        "The organizations you belong to and your roles in them",
    ):
        expect(scopes.get_by_label(text)).to_be_checked()
    screenshot(page, "oidc-consent")

    scopes.get_by_label("The organizations you belong to and your roles in them").uncheck()
    page.get_by_test_id("oidc-grant").click()
    expect(page.locator("body")).to_contain_text("signed in")

    assert len(callbacks) == 1
    answer = parse_qs(urlsplit(callbacks[0]).query)
    assert answer["state"] == [state] and answer["code"]
    token = rp.fetch_token(
        f"{site.url}/identity/o/api/token",
        authorization_response=callbacks[0],
        code_verifier=verifier,
    )
    assert set(token["scope"].split()) == {"openid", "profile", "email"}


def sign_in_here(browser_page, email: str) -> None:
    browser_page.get_by_label("Email", exact=True).fill(email)
    browser_page.get_by_label("Password", exact=True).fill(PASSWORD)
    browser_page.get_by_role("button", name="Sign In", exact=True).click()
