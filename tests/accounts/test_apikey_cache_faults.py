"""A Redis that goes back in time does not revive a revoked API key: the key snapshots it
held name the server they were written to (accounts.apikey_cache).

A real gunicorn (two workers) on the test database, with rate limits on, and a real
``redis-server`` that the test snapshots and restores (as test_identity_cache_faults does).
"""

from __future__ import annotations

import time

import httpx
import pytest
from django.conf import settings

from tests.accounts.test_revocation_cache_faults import _login, _server_on
from tests.factories import UserFactory
from tests.servers import REDIS_SERVER, redis_server

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server"),
]


def _me(base: str, raw_key: str) -> httpx.Response:
    """GET /users/me with the key once the server reaches the cache again (503 meanwhile)."""
    deadline = time.monotonic() + 15
    while True:
        response = httpx.get(f"{base}/api/v1/users/me", headers={"X-API-Key": raw_key}, timeout=10)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def _restore(redis) -> None:
    redis.cli("shutdown", "nosave")
    redis.process.wait()
    redis.start()  # back from the last SAVE


def test_a_redis_restored_from_an_older_snapshot_does_not_revive_a_revoked_key(tmp_path):
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL: the server must see the test database")
    user = UserFactory(email="key-rollback@example.com", roles=["member"])
    with redis_server(tmp_path) as redis, _server_on(redis) as base:
        owner = {"Authorization": f"Bearer {_login(base, user)['access']}"}
        created = httpx.post(
            f"{base}/api/v1/users/me/api-keys",
            json={"name": "job", "scopes": ["profile:read"]},
            headers=owner,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        raw, key_id = created.json()["key"], created.json()["id"]
        for _ in range(4):  # the owner entry, the snapshot, then answers from it
            assert _me(base, raw).status_code == 200
        assert "apikey:" in redis.cli("--scan", "--pattern", "*auth:apikey:*")
        assert "OK" in redis.cli("save")  # holds the live key's snapshot

        revoked = httpx.delete(
            f"{base}/api/v1/users/me/api-keys/{key_id}", headers=owner, timeout=10
        )
        assert revoked.status_code == 204
        response = _me(base, raw)
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == "api_key_revoked"

        _restore(redis)
        for _ in range(3):  # whichever worker answers
            response = _me(base, raw)
            assert response.status_code == 401, response.text
            assert response.json()["errors"][0]["code"] == "api_key_revoked"
