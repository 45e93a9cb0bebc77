"""The authenticated hot path stays lean: what one warm GET /users/me costs in SQL
statements and cache round trips, by JWT and by API key, with the rate limit off (the test
default) and on (the product's default). A change that adds a query or a round trip to
every API request fails here and has to say why.

On Redis (production) a JWT or an API key costs no SQL and one round trip, the rate limit
included (accounts.identity_cache, accounts.apikey_cache); on the other caches (the
embedded default) the SQL path."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test import override_settings
from redis.client import Pipeline
from redis.commands.core import Script

from tests.accounts.users_helpers import api_key_client, jwt_client

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"
CACHE_OPERATIONS = (
    "get",
    "get_many",
    "set",
    "set_many",
    "add",
    "incr",
    "decr",
    "delete",
    "delete_many",
    "touch",
    "has_key",
    "get_or_set",
)


@pytest.fixture
def cache_round_trips(monkeypatch):
    """The cache operations Roster asks for (one each, however the backend builds them)."""
    calls: list[str] = []
    depth = [0]
    backend = caches["default"]
    for name in CACHE_OPERATIONS:
        original = getattr(backend, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            if depth[0] == 0:
                calls.append(_name)
            depth[0] += 1
            try:
                return _original(*args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(backend, name, counted)
    # On Redis a pipeline is one round trip, whatever it holds.
    original_execute = Pipeline.execute

    def execute(self, *args, **kwargs):
        if depth[0] == 0:
            calls.append("pipeline")
        depth[0] += 1
        try:
            return original_execute(self, *args, **kwargs)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(Pipeline, "execute", execute)
    # A Lua script is one round trip too (EVALSHA; EVAL again only after a SCRIPT FLUSH).
    original_call = Script.__call__

    def call(self, *args, **kwargs):
        if depth[0] == 0:
            calls.append("script")
        depth[0] += 1
        try:
            return original_call(self, *args, **kwargs)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(Script, "__call__", call)
    return calls


def _on_redis() -> bool:
    return hasattr(getattr(caches["default"], "client", None), "get_client")


def _rate_limit_round_trips() -> list[str]:
    """The rate limit's window: one pipeline on Redis, add and incr on other caches."""
    return ["pipeline"] if _on_redis() else ["add", "incr"]


def _warm_me(client, django_assert_num_queries, cache_round_trips, *, queries: int):
    assert client.get(ME).status_code == 200  # the first request writes the markers
    cache_round_trips.clear()
    with django_assert_num_queries(queries):
        response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["roles"] == ["member"]
    return list(cache_round_trips)


def test_me_with_jwt_costs_no_query_and_one_round_trip_on_redis_rate_limit_included(
    member, django_assert_num_queries, cache_round_trips
):
    if not _on_redis():
        pytest.skip("the identity snapshot is the Redis deployment's")
    client = jwt_client(member)
    calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=0)
    assert calls == ["script"]  # session state, the user with its flags
    with override_settings(API_RATE_LIMITS_ENABLED=True):
        calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=0)
        assert calls == ["script"]  # ... and the rate limit's window, in the same script
        response = client.get(ME)
    assert response["X-RateLimit-Limit"] == "100"
    assert int(response["X-RateLimit-Remaining"]) < 100


def test_me_with_jwt_costs_one_query_and_one_cache_round_trip_plus_the_rate_limits(
    member, django_assert_num_queries, cache_round_trips
):
    if _on_redis():
        pytest.skip("the SQL path of the caches that are not Redis")
    client = jwt_client(member)
    calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=1)
    assert calls == ["get_many"]  # the session's revocation state
    with override_settings(API_RATE_LIMITS_ENABLED=True):
        calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=1)
    assert calls == ["get_many", *_rate_limit_round_trips()]  # no query for the role


def test_me_with_api_key_costs_no_query_and_one_round_trip_on_redis_rate_limit_included(
    member, django_assert_num_queries, cache_round_trips
):
    if not _on_redis():
        pytest.skip("the key snapshot is the Redis deployment's")
    client = api_key_client(member, ["profile:read"])
    # The first use writes the digest's owner entry (and the new address retires what the
    # second would read); the second stores the key's snapshot.
    assert client.get(ME).status_code == 200
    calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=0)
    assert calls == ["script"]  # the key, its owner with the flags, the last-use gate
    with override_settings(API_RATE_LIMITS_ENABLED=True):
        calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=0)
        assert calls == ["script"]  # ... and the rate limit's window, in the same script
        response = client.get(ME)
    assert response["X-RateLimit-Limit"] == "100"
    assert int(response["X-RateLimit-Remaining"]) < 100


def test_me_with_api_key_costs_two_queries_and_one_cache_round_trip_plus_the_rate_limits(
    member, django_assert_num_queries, cache_round_trips
):
    if _on_redis():
        pytest.skip("the SQL path of the caches that are not Redis")
    client = api_key_client(member, ["profile:read"])
    calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=2)
    assert calls == ["get"]  # when the key's last use was written
    with override_settings(API_RATE_LIMITS_ENABLED=True):
        calls = _warm_me(client, django_assert_num_queries, cache_round_trips, queries=2)
    assert calls == ["get", *_rate_limit_round_trips()]


def test_public_auth_endpoints_work_with_a_stray_bearer_header(anon_client, db):
    """A client that sends its (or any) bearer token to a public endpoint still gets the
    endpoint's answer: the flows shared with the pages find a session to use."""
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = anon_client.post(
        "/api/v1/auth/register",
        {"email": "stray-bearer@example.com", "password": "a long enough passphrase"},
        format="json",
    )
    assert response.status_code in (201, 202), response.content
    reset = anon_client.post(
        "/api/v1/auth/password/reset", {"email": "stray-bearer@example.com"}, format="json"
    )
    assert reset.status_code == 202


def test_a_warm_jwt_request_asks_the_database_nothing_not_even_a_health_check(member, monkeypatch):
    """CONN_HEALTH_CHECKS stays on: Django checks a persistent connection (SELECT 1) when a
    request first uses it, and a warm JWT request on Redis never does."""
    if not _on_redis():
        pytest.skip("the identity snapshot is the Redis deployment's")
    from django.db import connections

    client = jwt_client(member)
    assert client.get(ME).status_code == 200
    database = connections["default"]
    checks: list[bool] = []
    monkeypatch.setattr(database, "is_usable", lambda: checks.append(True) or True)
    monkeypatch.setattr(database, "health_check_enabled", True)
    # What Django's request_started receiver does at the start of every request.
    monkeypatch.setattr(database, "health_check_done", False)
    assert client.get(ME).status_code == 200
    assert checks == []
    with database.cursor():  # what any request that uses the database does first
        pass
    assert checks == [True]
