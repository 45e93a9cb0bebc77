"""/users/me/sessions: web (allauth usersessions) and API sessions, listed and revoked."""

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from rest_framework.test import APIClient

from accounts import sessions
from accounts.models import ApiSession
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import STATUS_URL, bearer, error_code, login
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

SESSIONS_URL = "/api/v1/users/me/sessions"


def _browser(user, agent="Firefox/128") -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    response = client.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    return client


def _browser_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_list_shows_web_and_api_sessions_with_the_current_one(member, other_member):
    browser = _browser(member)
    pair = login(member)
    login(other_member)
    body = bearer(pair["access"]).get(SESSIONS_URL).json()
    assert sorted(s["kind"] for s in body) == ["api", "web"]
    api = next(s for s in body if s["kind"] == "api")
    web = next(s for s in body if s["kind"] == "web")
    assert api["id"] == pair["session_id"] and api["current"] is True
    assert web["current"] is False and web["user_agent"] == "Firefox/128"
    assert web["ip"] == "127.0.0.1" and web["created_at"].endswith("Z")
    assert browser.session.session_key not in str(body)


def test_web_caller_sees_its_own_session_as_current(member):
    browser = _browser(member)
    body = browser.get(SESSIONS_URL).json()
    assert [s["current"] for s in body] == [True]


def test_delete_an_api_session_kills_its_tokens(member):
    caller, victim = login(member), login(member)
    client = bearer(caller["access"])
    assert client.delete(f"{SESSIONS_URL}/{victim['session_id']}").status_code == 204
    response = bearer(victim["access"]).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_revoked"
    refresh = APIClient().post(
        "/api/v1/auth/token/refresh", {"refresh": victim["refresh"]}, format="json"
    )
    assert error_code(refresh) == "token_revoked"
    assert client.get(STATUS_URL).status_code == 200
    assert AuditEvent.objects.filter(
        action="session.revoked", target_id=victim["session_id"]
    ).exists()


def test_delete_a_web_session_signs_that_browser_out(member):
    browser = _browser(member)
    web_id = sessions.web_session_id(browser.session.session_key)
    client = bearer(login(member)["access"])
    assert client.delete(f"{SESSIONS_URL}/{web_id}/").status_code == 204
    assert browser.get(STATUS_URL).status_code == 401
    assert not UserSession.objects.filter(user=member).exists()


def test_other_users_sessions_are_404(member, other_member):
    theirs = login(other_member)
    their_browser = _browser(other_member)
    client = bearer(login(member)["access"])
    for session_id in (
        theirs["session_id"],
        sessions.web_session_id(their_browser.session.session_key),
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
    ):
        assert client.delete(f"{SESSIONS_URL}/{session_id}").status_code == 404
    assert bearer(theirs["access"]).get(STATUS_URL).status_code == 200
    assert _browser_signed_in(their_browser)


def test_revoke_others_keeps_only_the_caller(member, other_member):
    browser = _browser(member)
    others = [login(member) for _ in range(2)]
    bystander = login(other_member)
    caller = login(member)
    client = bearer(caller["access"])

    assert client.post(f"{SESSIONS_URL}/revoke-others").status_code == 204

    assert client.get(STATUS_URL).status_code == 200
    for pair in others:
        assert bearer(pair["access"]).get(STATUS_URL).status_code == 401
    assert browser.get(STATUS_URL).status_code == 401
    assert bearer(bystander["access"]).get(STATUS_URL).status_code == 200
    assert [s["id"] for s in client.get(SESSIONS_URL).json()] == [caller["session_id"]]


def test_revoke_others_from_the_browser_keeps_the_browser(member):
    browser = _browser(member)
    pair = login(member)
    response = browser.post(f"{SESSIONS_URL}/revoke-others")
    assert response.status_code == 204
    assert browser.get(STATUS_URL).status_code == 200
    assert bearer(pair["access"]).get(STATUS_URL).status_code == 401


def test_browser_writes_need_csrf(member):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)
    assert browser.get(SESSIONS_URL).status_code == 200
    response = browser.post(f"{SESSIONS_URL}/revoke-others")
    assert response.status_code == 403


def test_anonymous_is_401(anon_client):
    assert anon_client.get(SESSIONS_URL).status_code == 401
    assert anon_client.post(f"{SESSIONS_URL}/revoke-others").status_code == 401
    assert anon_client.delete(f"{SESSIONS_URL}/x").status_code == 401


def test_list_query_count_does_not_grow_with_sessions(member, django_assert_max_num_queries):
    client = bearer(login(member)["access"])
    for _ in range(15):
        login(member)
    with django_assert_max_num_queries(4):
        body = client.get(SESSIONS_URL).json()
    assert len(body) == 16


def test_revoked_and_expired_sessions_are_not_listed(member):
    caller = login(member)
    gone = login(member)
    bearer(gone["access"]).post("/api/v1/auth/logout")
    ApiSession.objects.filter(pk=login(member)["session_id"]).update(
        expires_at="2000-01-01T00:00:00Z"
    )
    ids = [s["id"] for s in bearer(caller["access"]).get(SESSIONS_URL).json()]
    assert ids == [caller["session_id"]]


def test_signed_out_and_expired_web_sessions_are_not_listed(member):
    from django.contrib.sessions.models import Session

    caller = login(member)
    signed_out = _browser(member, agent="Signed-out/1")
    expired = _browser(member, agent="Expired/1")
    live = _browser(member, agent="Live/1")
    signed_out.post("/accounts/logout/")
    Session.objects.filter(session_key=expired.session.session_key).update(
        expire_date="2000-01-01T00:00:00Z"
    )
    listed = bearer(caller["access"]).get(SESSIONS_URL).json()
    agents = sorted(s["user_agent"] for s in listed if s["kind"] == "web")
    assert agents == ["Live/1"]
    assert _browser_signed_in(live)
