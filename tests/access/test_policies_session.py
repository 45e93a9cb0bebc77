"""The session security policy: access token lifetime (JWT exp), an API session's idle and
absolute limits (refresh), a web session's lifetime; an organization's only tighter; idle
above absolute is a contradiction (400)."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from access.policies import services
from access.policies.types import SESSION
from accounts.models import ApiSession
from tests.access.conftest import assert_error, jwt_client
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
PLATFORM = "/api/v1/admin/security/policies/session"
VALUES = {
    "access_token_minutes": 5,
    "refresh_idle_days": 2,
    "refresh_absolute_days": 4,
    "web_session_hours": 8,
}


def _set(org, **changes):
    services.policy_set(
        organization=org, policy_type=SESSION, values={**VALUES, **changes}, actor=None
    )


def _token(user):
    response = APIClient().post(
        TOKEN, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(token):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def _lifetime(access: str) -> int:
    claims = jwt.decode(access, options={"verify_signature": False})
    return claims["exp"] - claims["iat"]


def test_defaults_are_the_settings():
    root = UserFactory(roles=["admin"])
    body = jwt_client(root).get(PLATFORM).json()
    assert body["access_token_minutes"] == 15 and body["refresh_absolute_days"] == 30
    assert body["web_session_hours"] == 336


def test_idle_above_absolute_is_a_contradiction():
    root = UserFactory(roles=["admin"])
    response = jwt_client(root).put(
        PLATFORM, {**VALUES, "refresh_idle_days": 5, "refresh_absolute_days": 4}, format="json"
    )
    assert_error(response, 400, "contradictory_values", "refresh_idle_days")
    assert_error(
        jwt_client(root).put(PLATFORM, {**VALUES, "access_token_minutes": 0}, format="json"),
        400,
        "min_value",
        "access_token_minutes",
    )


def test_access_token_lifetime_follows_the_effective_policy(world):
    _set(None)
    assert _lifetime(_token(world.member)["access"]) == 5 * 60
    assert _token(world.member)["expires_in"] == 300
    # The organization's is tighter, for its members only.
    _set(world.org, access_token_minutes=2)
    assert _lifetime(_token(world.member)["access"]) == 2 * 60
    assert _lifetime(_token(world.outsider)["access"]) == 5 * 60
    # And at refresh, as it is then.
    pair = _token(world.member)
    _set(world.org, access_token_minutes=1)
    assert _lifetime(_refresh(pair["refresh"]).json()["access"]) == 60


def test_an_organization_may_not_loosen(world):
    _set(None)
    response = jwt_client(world.owner).put(
        f"/api/v1/orgs/{world.org.pk}/policies/session",
        {**VALUES, "web_session_hours": 9},
        format="json",
    )
    assert_error(response, 400, "weaker_than_platform", "web_session_hours")


def test_idle_and_absolute_limits_at_refresh(world):
    _set(None)
    pair = _token(world.member)
    session = ApiSession.objects.get(pk=pair["session_id"])
    assert abs(session.expires_at - session.created_at - timedelta(days=2)) < timedelta(seconds=1)
    with time_machine.travel(timedelta(days=1, hours=23)):
        pair = _refresh(pair["refresh"]).json()
    with time_machine.travel(timedelta(days=3, hours=22)):
        pair = _refresh(pair["refresh"]).json()
        assert "access" in pair
    with time_machine.travel(timedelta(days=4, minutes=1)):
        assert_error(_refresh(pair["refresh"]), 401, "session_expired")


def test_idle_session_ends(world):
    _set(None)
    pair = _token(world.member)
    with time_machine.travel(timedelta(days=2, minutes=1)):
        assert _refresh(pair["refresh"]).status_code == 401


def test_web_session_ends_after_its_hours(world):
    _set(None)
    browser = Client()
    response = browser.post(
        "/accounts/login/",
        {"login": world.member.email, "password": DEFAULT_PASSWORD, "remember": "on"},
    )
    assert response.status_code == 302
    with time_machine.travel(timedelta(hours=7)):
        assert browser.get("/account/").status_code == 200
        assert browser.get("/api/v1/users/me").status_code == 200
    with time_machine.travel(timedelta(hours=8, minutes=1)):
        response = browser.get("/account/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert browser.get("/api/v1/users/me").status_code in (401, 403)


def test_a_change_reaches_open_web_sessions(world):
    browser = Client()
    browser.post("/accounts/login/", {"login": world.member.email, "password": DEFAULT_PASSWORD})
    with time_machine.travel(timedelta(minutes=10)):
        _set(None, web_session_hours=1)
    with time_machine.travel(timedelta(minutes=50)):
        assert browser.get("/account/").status_code == 200
    with time_machine.travel(timedelta(minutes=61)):
        assert browser.get("/account/").status_code == 302


def test_stored_types_are_read_once_per_request_and_forgotten_by_a_change():
    from django.core.cache import cache

    from access.policies import selectors
    from config.request_context import request_memo_var

    token = request_memo_var.set({})  # what RequestIDMiddleware gives every request
    try:
        assert SESSION not in selectors.stored_types()
        # Another process's change reaches the cache: this request keeps what it read...
        cache.set(selectors.STORED_TYPES_KEY, frozenset({SESSION}))
        assert SESSION not in selectors.stored_types()
        # ...while a change made by this request is seen at once.
        _set(None)
        assert SESSION in selectors.stored_types()
    finally:
        request_memo_var.reset(token)
    # Outside a request every read asks the cache.
    cache.set(selectors.STORED_TYPES_KEY, frozenset())
    assert SESSION not in selectors.stored_types()


def test_refresh_is_a_token_request_and_keeps_its_policies(world):
    # The refresh goes through the token callers' lean path (no web session is loaded or
    # made) and still applies the session policy stored meanwhile.
    pair = _token(world.member)
    _set(None, access_token_minutes=7)
    client = APIClient()
    client.cookies["sessionid"] = "not-a-session"
    response = client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    assert _lifetime(response.json()["access"]) == 7 * 60
    assert "sessionid" not in response.cookies
