"""Connected apps (accounts.oidc_grants): the apps a user signed in to with Roster, revoking
one from the account page, and every "end the other sessions" event ending their tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.idp.oidc.models import Client, Token
from django.test import Client as WebClient
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.credentials import credentials_revoke_on_password_change
from accounts.export import user_export
from accounts.oidc_grants import oidc_grants_of
from accounts.services.erasure import user_erase, user_request_erasure
from audit.models import AuditEvent

USERINFO = "/identity/o/api/userinfo"
PAGE = "/account/connected-apps/"


def _client(name: str, client_id: str) -> Client:
    return Client.objects.create(
        id=client_id, name=name, redirect_uris=f"https://{client_id}.example.com/cb"
    )


def _token(client, user, kind, value: str, scopes: str, *, expires_in=3600, ago=0) -> Token:
    token = Token(
        client=client,
        user=user,
        type=kind,
        created_at=timezone.now() - timedelta(seconds=ago),
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )
    token.set_value(value)
    token.set_scopes(scopes.split())
    token.save()
    return token


@pytest.fixture
def wiki():
    return _client("Team Wiki", "wiki")


@pytest.fixture
def chat():
    return _client("Chat", "chat")


@pytest.fixture
def granted(member, wiki, chat):
    """member signed in to the wiki (openid email, an hour ago, then refreshed with profile)
    and to chat (openid); a stale wiki token long expired."""
    _token(wiki, member, Token.Type.ACCESS_TOKEN, "wiki-at-1", "openid email", ago=3600)
    _token(wiki, member, Token.Type.REFRESH_TOKEN, "wiki-rt-1", "openid email profile", ago=60)
    _token(chat, member, Token.Type.ACCESS_TOKEN, "chat-at-1", "openid", ago=600)
    _token(wiki, member, Token.Type.ACCESS_TOKEN, "old", "orgs", expires_in=-10, ago=99999)
    return member


def _userinfo(value: str) -> int:
    return WebClient().get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {value}").status_code


def _web(user) -> WebClient:
    web = WebClient()
    web.force_login(user)
    return web


def test_the_page_lists_the_apps_with_scopes_and_dates(granted):
    grants = oidc_grants_of(user=granted)
    assert [(g["client_id"], g["client_name"], g["scopes"]) for g in grants] == [
        ("wiki", "Team Wiki", ["email", "openid", "profile"]),
        ("chat", "Chat", ["openid"]),
    ]
    assert grants[0]["authorized_at"] < grants[0]["last_used_at"]
    html = _web(granted).get(PAGE).content.decode()
    assert "Team Wiki" in html and "Chat" in html
    assert 'data-scope="profile"' in html and 'data-scope="orgs"' not in html  # expired
    assert Token.objects.filter(client_id="wiki").first().hash not in html
    assert "Connected apps" in _web(granted).get("/account/").content.decode()  # the nav


def test_someone_else_sees_nothing_of_them(granted, other_member):
    html = _web(other_member).get(PAGE).content.decode()
    assert "Team Wiki" not in html and 'data-testid="no-connected-apps"' in html
    assert WebClient().get(PAGE).status_code == 302  # signed out: to the sign-in page


def test_revoke_ends_that_app_only_and_is_audited(granted):
    assert _userinfo("wiki-at-1") == 200
    response = _web(granted).post(f"{PAGE}wiki/revoke/")
    assert response.status_code == 302 and response["Location"] == PAGE
    assert not Token.objects.filter(client_id="wiki", user=granted).exists()
    assert _userinfo("wiki-at-1") == 401
    assert _userinfo("chat-at-1") == 200
    event = AuditEvent.objects.get(action="oidc.revoked")
    assert (event.target_type, event.target_id) == ("oidc_client", "wiki")
    assert event.actor_id == str(granted.pk)
    assert event.metadata == {"user_id": str(granted.pk), "count": 3, "reason": "revoked_by_user"}
    assert "wiki-at-1" not in str(event.metadata) and "wiki-rt-1" not in str(event.metadata)
    log = _web(granted).get("/account/security-log/").content.decode()
    assert "access was revoked" in log


def test_revoking_what_is_not_yours_is_404_and_changes_nothing(granted, other_member, chat):
    _token(chat, other_member, Token.Type.ACCESS_TOKEN, "other-at", "openid")
    web = _web(granted)
    before = Token.objects.count()
    assert _web(other_member).post(f"{PAGE}wiki/revoke/").status_code == 404
    assert web.post(f"{PAGE}nope/revoke/").status_code == 404
    assert web.get(f"{PAGE}wiki/revoke/").status_code == 405
    assert Token.objects.count() == before
    assert not AuditEvent.objects.filter(action="oidc.revoked").exists()
    # Revoked once: a second revoke finds nothing live.
    assert web.post(f"{PAGE}wiki/revoke/").status_code == 302
    assert web.post(f"{PAGE}wiki/revoke/").status_code == 404
    assert _userinfo("other-at") == 200


def test_sign_out_everywhere_on_the_page_ends_the_apps(granted):
    web = _web(granted)
    assert web.post("/account/sessions/revoke-others/").status_code == 302
    assert not Token.objects.filter(user=granted).exists()
    assert _userinfo("chat-at-1") == 401
    events = AuditEvent.objects.filter(action="oidc.revoked").order_by("target_id")
    assert [(e.target_id, e.metadata["reason"]) for e in events] == [
        ("chat", "revoked_by_user"),
        ("wiki", "revoked_by_user"),
    ]
    assert web.get(PAGE).status_code == 200  # this browser stays signed in


def test_sign_out_everywhere_through_the_api_ends_the_apps(granted):
    from accounts.tokens import token_issue

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=granted).access}")
    assert api.post("/api/v1/users/me/sessions/revoke-others").status_code == 204
    assert not Token.objects.filter(user=granted).exists()


def test_the_admins_sign_out_everywhere_ends_the_apps(granted, admin_user):
    web = _web(admin_user)
    response = web.post(
        "/admin/accounts/user/",
        {"action": "sign_out_everywhere", "_selected_action": [str(granted.pk)]},
    )
    assert response.status_code == 302
    assert not Token.objects.filter(user=granted).exists()
    event = AuditEvent.objects.filter(action="oidc.revoked").first()
    assert event.actor_id == str(admin_user.pk) and event.metadata["reason"] == "admin_sign_out"


def test_a_password_change_ends_the_refresh_tokens(granted):
    credentials_revoke_on_password_change(user=granted, actor=granted, api_keys="none")
    assert not Token.objects.filter(user=granted, type=Token.Type.REFRESH_TOKEN).exists()
    assert not Token.objects.filter(user=granted).exists()
    assert {e.metadata["reason"] for e in AuditEvent.objects.filter(action="oidc.revoked")} == {
        "password_changed"
    }


def test_a_password_change_on_the_page_ends_them(granted, password):
    web = _web(granted)
    response = web.post(
        "/accounts/password/change/",
        {
            "oldpassword": password,
            "password1": "A new long passphrase 42",
            "password2": "A new long passphrase 42",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert not Token.objects.filter(user=granted).exists()


def test_the_export_lists_the_grants_without_token_values(granted):
    section = user_export(user=granted)["oidc_grants"]
    assert [(g["client_id"], g["client_name"], g["scopes"]) for g in section] == [
        ("wiki", "Team Wiki", ["email", "openid", "profile"]),
        ("chat", "Chat", ["openid"]),
    ]
    assert section[0]["authorized_at"].endswith("Z") and section[0]["last_used_at"].endswith("Z")
    text = str(user_export(user=granted))
    for token in Token.objects.all():
        assert token.hash not in text
    for value in ("wiki-at-1", "wiki-rt-1", "chat-at-1"):
        assert value not in text


def test_erasure_deletes_the_tokens(granted):
    user_request_erasure(user=granted, actor=granted)
    granted.refresh_from_db()
    assert user_erase(user_id=granted.pk, now=granted.erasure_due_at) is True
    assert not Token.objects.filter(user_id=granted.pk).exists()
    assert AuditEvent.objects.filter(action="oidc.revoked").count() == 2


def test_suspension_deletes_the_tokens(granted, admin_user):
    from accounts.services.users import user_set_status

    user_set_status(user=granted, status="suspended", actor=admin_user)
    assert not Token.objects.filter(user=granted).exists()


def test_the_page_is_german_for_a_german_user(granted):
    from tests.i18n.test_german import english_left

    type(granted).objects.filter(pk=granted.pk).update(locale="de")
    html = _web(granted).get(PAGE).content.decode()
    assert "Verbundene Apps" in html
    assert english_left(html) == []


def _api(user) -> APIClient:
    from accounts.tokens import token_issue

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user).access}")
    return api


API = "/api/v1/users/me/connected-apps"


def test_the_api_lists_and_revokes_like_the_page(granted, other_member):
    api = _api(granted)
    body = api.get(API).json()
    assert [(a["client_id"], a["client_name"], a["scopes"]) for a in body] == [
        ("wiki", "Team Wiki", ["email", "openid", "profile"]),
        ("chat", "Chat", ["openid"]),
    ]
    assert set(body[0]) == {"client_id", "client_name", "scopes", "authorized_at", "last_used_at"}
    assert _api(other_member).get(API).json() == []
    missing = _api(other_member).delete(f"{API}/wiki")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
    assert api.delete(f"{API}/wiki").status_code == 204
    assert _userinfo("wiki-at-1") == 401 and _userinfo("chat-at-1") == 200
    assert api.delete(f"{API}/wiki").status_code == 404
    assert [a["client_id"] for a in api.get(API).json()] == ["chat"]
    assert AuditEvent.objects.filter(action="oidc.revoked").count() == 1


def test_the_api_refuses_keys_and_strangers(granted):
    from accounts.apikeys import api_key_create

    _, raw = api_key_create(user=granted, name="k", scopes=["profile:read"], actor=granted)
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert keyed.get(API).status_code == 403
    assert keyed.delete(f"{API}/wiki").status_code == 403
    assert APIClient().get(API).status_code == 401
    assert APIClient().delete(f"{API}/wiki").status_code == 401
    assert Token.objects.filter(client_id="wiki").count() == 3
