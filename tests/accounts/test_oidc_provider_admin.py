"""Clients of Roster's OpenID Connect provider in the admin (accounts/oidc_provider_admin.py)."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from allauth.idp.oidc.models import Client, Token
from django.test import Client as WebClient

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/allauth_idp_oidc/client/add/"
FORM = {
    "name": "Wiki",
    "type": "confidential",
    "scopes": "openid\nprofile\nemail\norgs",
    "default_scopes": "",
    "grant_types": "authorization_code\nrefresh_token",
    "response_types": "code",
    "redirect_uris": "https://wiki.example.com/oidc/callback",
    "post_logout_redirect_uris": "https://wiki.example.com/",
    "cors_origins": "",
    "owner": "",
}


@pytest.fixture
def admin_web(admin_user) -> WebClient:
    web = WebClient()
    web.force_login(admin_user)
    return web


def test_register_a_client(admin_web, admin_user):
    page = admin_web.get(ADD_URL)
    assert page.status_code == 200
    assert 'name="secret"' not in page.content.decode()

    response = admin_web.post(ADD_URL, FORM, follow=True)
    assert response.status_code == 200
    client = Client.objects.get(name="Wiki")
    html = response.content.decode()
    shown = re.search(
        r"shown only once: <input readonly size=\"\d+\" type=\"text\" value=\"([^\"]+)\"", html
    )
    assert shown, "the secret is shown once"
    secret = htmllib.unescape(shown.group(1))
    assert client.check_secret(secret) and client.secret != secret  # stored hashed
    assert client.get_scopes() == ["openid", "profile", "email", "orgs"]
    assert client.get_post_logout_redirect_uris() == ["https://wiki.example.com/"]

    # Never again: the change page and the audit event hold neither the secret nor its hash.
    change = admin_web.get(f"/admin/allauth_idp_oidc/client/{client.pk}/change/").content.decode()
    for value in (secret, htmllib.escape(secret), client.secret):
        assert value not in change
    event = AuditEvent.objects.get(action="admin.allauth_idp_oidc.client.created")
    assert event.actor_id == str(admin_user.pk)
    assert secret not in repr(event.changes) and client.secret not in repr(event.changes)

    # A new secret: the old one stops working, the new one is shown once.
    rotated = admin_web.post(
        "/admin/allauth_idp_oidc/client/",
        {"action": "issue_new_secret", "_selected_action": [client.pk]},
        follow=True,
    )
    new_secret = htmllib.unescape(
        re.search(r'type="text" value="([^"]+)"', rotated.content.decode()).group(1)
    )
    client.refresh_from_db()
    assert client.check_secret(new_secret) and not client.check_secret(secret)
    assert AuditEvent.objects.filter(
        action="admin.allauth_idp_oidc.client.secret_rotated", target_id=client.pk
    ).exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("scopes", "openid\nadmin", "Not supported: admin"),
        ("scopes", "profile\nemail", "openid is required"),
        ("grant_types", "authorization_code\nclient_credentials", "Not supported"),
        ("grant_types", "refresh_token", "authorization_code is required"),
        ("response_types", "token", "Not supported"),
        ("redirect_uris", "http://wiki.example.com/cb", "plain http is only allowed"),
        ("redirect_uris", "https://wiki.example.com/cb#frag", "no fragment"),
        ("redirect_uris", "https://*.example.com/cb", "wildcards"),
        ("redirect_uris", "", "This field is required"),
        ("redirect_uris", "wiki/cb", "not an absolute"),
        ("post_logout_redirect_uris", "ftp://wiki.example.com/", "not an absolute"),
        ("default_scopes", "orgs", None),
    ],
)
def test_invalid_clients_are_refused(admin_web, field, value, message):
    form = {**FORM, field: value}
    if field == "default_scopes":
        form["scopes"] = "openid"
        message = "Default scopes must be among"
    response = admin_web.post(ADD_URL, form)
    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode()
    assert not Client.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="admin.allauth_idp_oidc").exists()


def test_loopback_http_is_allowed_for_development(admin_web):
    form = {**FORM, "type": "public", "redirect_uris": "http://127.0.0.1:8765/cb"}
    assert admin_web.post(ADD_URL, form).status_code == 302
    assert Client.objects.get(name="Wiki").get_redirect_uris() == ["http://127.0.0.1:8765/cb"]


def test_tokens_are_read_only_records_without_hashes(admin_web, member):
    client = Client.objects.create(name="Wiki", redirect_uris="https://wiki.example.com/cb")
    token = Token.objects.create(
        client=client, user=member, type=Token.Type.ACCESS_TOKEN, hash="f" * 64, scopes="openid"
    )
    listing = admin_web.get("/admin/allauth_idp_oidc/token/")
    detail = admin_web.get(f"/admin/allauth_idp_oidc/token/{token.pk}/change/")
    assert listing.status_code == 200 and detail.status_code == 200
    assert "f" * 64 not in listing.content.decode() + detail.content.decode()
    assert admin_web.get("/admin/allauth_idp_oidc/token/add/").status_code == 403
    assert (
        admin_web.post(
            f"/admin/allauth_idp_oidc/token/{token.pk}/change/", {"user": ""}
        ).status_code
        == 403
    )
    # Deleting one revokes it, audited.
    assert (
        admin_web.post(
            f"/admin/allauth_idp_oidc/token/{token.pk}/delete/", {"post": "yes"}
        ).status_code
        == 302
    )
    assert not Token.objects.filter(pk=token.pk).exists()
    assert AuditEvent.objects.filter(action="admin.allauth_idp_oidc.token.deleted").exists()


def test_members_cannot_reach_the_clients(member):
    web = WebClient()
    web.force_login(member)
    response = web.get("/admin/allauth_idp_oidc/client/")
    assert response.status_code == 302 and "/login/" in response["Location"]
