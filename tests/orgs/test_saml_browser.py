"""SAML sign-in in a browser: the sign-in page's single sign-on field, a real IdP page
(pysaml2, served on a local port) that posts its signed response back, and the account
page at the end."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.test import Client

from orgs.models import Membership
from orgs.saml.services import saml_connection_set
from orgs.services import domains, organizations
from tests.factories import UserFactory
from tests.orgs.conftest import verified
from tests.orgs.test_saml import IDP_ENTITY, Idp, make_key_and_cert
from tests.pages import conftest as pages

# The browser fixtures of tests/pages (real Chromium, the live server as a plain-HTTP site).
browser_type_launch_args = pages.browser_type_launch_args
browser_context_args = pages.browser_context_args
page = pages.page
site = pages.site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOMAIN = "acme.example"
EMAIL = f"ada@{DOMAIN}"


class IdpPage(BaseHTTPRequestHandler):
    """GET /sso?SAMLRequest=...: a page with the signed response and a button to post it."""

    idp: Idp

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        request_url = f"http://{self.headers['Host']}{self.path}"
        saml_response, acs_url = self.idp.respond_with_acs(request_url, EMAIL)
        body = (
            "<!doctype html><title>Acme IdP</title><h1>Acme IdP</h1>"
            f'<form method="post" action="{html.escape(acs_url)}">'
            f'<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response)}">'
            "<button type=submit>Sign in at Acme IdP</button></form>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class BrowserIdp(Idp):
    def respond_with_acs(self, redirect_url: str, email: str) -> tuple[str, str]:
        from urllib.parse import parse_qs

        from saml2 import BINDING_HTTP_REDIRECT

        query = parse_qs(urlsplit(redirect_url).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return self.respond(redirect_url, email), request.message.assertion_consumer_service_url


@pytest.fixture
def idp_site(site, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), IdpPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sso_url = f"http://127.0.0.1:{server.server_port}/sso"
    owner = verified(UserFactory(email=f"owner@{DOMAIN}"))
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    domains.domain_add(organization=org, actor=None, domain=DOMAIN, verified=True)
    key_file, cert_file, pem = make_key_and_cert(tmp_path, "idp")
    saml_connection_set(
        organization=org,
        actor=owner,
        idp_entity_id=IDP_ENTITY,
        idp_sso_url=sso_url,
        idp_x509_cert=pem,
        domains=[DOMAIN],
        enabled=True,
    )
    api = Client(HTTP_HOST=urlsplit(site.url).netloc)
    api.force_login(owner)
    metadata = api.get(f"/api/v1/orgs/{org.pk}/sso/saml/metadata").content.decode()
    IdpPage.idp = BrowserIdp(
        key_file=key_file, cert_file=cert_file, sp_metadata=metadata, sso_url=sso_url
    )
    yield org
    server.shutdown()
    server.server_close()


def test_saml_sign_in_from_the_sign_in_page(page, site, idp_site):
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_label("Work address").fill(EMAIL)
    page.get_by_role("button", name="Continue with single sign-on").click()
    page.get_by_role("heading", name="Acme IdP").wait_for()
    page.get_by_role("button", name="Sign in at Acme IdP").click()
    page.get_by_role("heading", name="Your account").wait_for()
    assert EMAIL in page.content()
    assert Membership.objects.filter(organization=idp_site, user__email=EMAIL).exists()
    pages.screenshot(page, "saml-sign-in")
