"""A Redis that goes back in time gives back no role and no access: the identity snapshots
it held name the server they were written to (accounts.identity_cache).

A real gunicorn on the test database, with rate limits on, and a real ``redis-server`` that
the test snapshots and restores (as tests/accounts/test_revocation_cache_faults.py does).
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


def _me(base: str, token: str) -> httpx.Response:
    """GET /users/me once the server reaches the cache again (503 meanwhile)."""
    deadline = time.monotonic() + 15
    while True:
        response = httpx.get(
            f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def _patch_user(base: str, admin_token: str, user, body: dict) -> None:
    response = httpx.patch(
        f"{base}/api/v1/users/{user.pk}",
        json=body,
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _restore(redis) -> None:
    redis.cli("shutdown", "nosave")
    redis.process.wait()
    redis.start()  # back from the last SAVE


def test_a_redis_restored_from_an_older_snapshot_gives_back_no_role_and_no_access(tmp_path):
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL: the server must see the test database")
    user = UserFactory(email="demoted@example.com", roles=["manager"])
    admin = UserFactory(email="rollback-admin@example.com", roles=["admin"])
    with redis_server(tmp_path) as redis, _server_on(redis) as base:
        token, admin_token = _login(base, user)["access"], _login(base, admin)["access"]
        for _ in range(2):  # the second answer comes from the snapshot
            assert _me(base, token).json()["roles"] == ["manager"]
        assert "OK" in redis.cli("save")  # holds the manager's snapshot

        _patch_user(base, admin_token, user, {"roles": ["member"]})
        assert _me(base, token).json()["roles"] == ["member"]
        _restore(redis)
        for _ in range(2):
            assert _me(base, token).json()["roles"] == ["member"]

        assert "OK" in redis.cli("save")  # holds the active member's snapshot
        _patch_user(base, admin_token, user, {"status": "suspended"})
        assert _me(base, token).status_code == 401
        _restore(redis)
        assert _me(base, token).status_code == 401
