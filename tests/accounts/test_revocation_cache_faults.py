"""A cache that goes back in time, or goes away, never brings a signed-out session back.

A real gunicorn on the test database, with rate limits on, and a real ``redis-server``
that the test snapshots, restores, freezes and resumes.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager

import httpx
import pytest
from django.conf import settings

from accounts.models import ApiSession
from config import redis_connection
from tests.accounts.test_sessions_multiprocess import _gunicorn
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.servers import REDIS_SERVER, RedisServer, redis_server

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server"),
]


@contextmanager
def _server_on(redis: RedisServer):
    """The multiprocess test's gunicorn, pointed at this Redis, with rate limits on."""
    saved = {k: os.environ.get(k) for k in ("REDIS_URL", "REDIS_TEST_DB")}
    os.environ["REDIS_URL"], os.environ["REDIS_TEST_DB"] = redis.url + "/0", "0"
    old_redis_url = settings.REDIS_URL
    settings.REDIS_URL = redis.url + "/0"
    try:
        with _gunicorn(rate_limits=True) as base:
            yield base
    finally:
        settings.REDIS_URL = old_redis_url
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _status(base: str, token: str) -> int:
    return httpx.get(
        f"{base}/api/v1/auth/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def _settled_status(base: str, token: str) -> int:
    """The answer once the server has reached the cache again (503 meanwhile)."""
    deadline = time.monotonic() + 15
    while (code := _status(base, token)) == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    return code


def _login(base: str, user) -> dict:
    response = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"email": user.email, "password": DEFAULT_PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_redis_restored_from_an_older_snapshot_does_not_revive_a_session(tmp_path):
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL: the server must see the test database")
    user = UserFactory(email="rollback@example.com")
    with redis_server(tmp_path) as redis, _server_on(redis) as base:
        pair = _login(base, user)
        assert _status(base, pair["access"]) == 200  # the live marker is in Redis now
        assert "OK" in redis.cli("save")  # the snapshot an operator would restore

        logout = httpx.post(
            f"{base}/api/v1/auth/logout",
            headers={"Authorization": f"Bearer {pair['access']}"},
            timeout=10,
        )
        assert logout.status_code == 204
        assert _status(base, pair["access"]) == 401

        redis.cli("shutdown", "nosave")
        redis.process.wait()
        redis.start()  # back from the snapshot: the live marker, and no revoked one
        assert _settled_status(base, pair["access"]) == 401


def test_sign_out_while_redis_is_frozen_is_durable_and_stays_signed_out(tmp_path):
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL: the server must see the test database")
    user = UserFactory(email="frozen@example.com")
    with redis_server(tmp_path) as redis, _server_on(redis) as base:
        pair = _login(base, user)
        assert _status(base, pair["access"]) == 200  # the live marker is in Redis now

        os.kill(redis.process.pid, signal.SIGSTOP)
        logout = httpx.post(
            f"{base}/api/v1/auth/logout",
            headers={"Authorization": f"Bearer {pair['access']}"},
            timeout=30,
        )
        assert logout.status_code == 204, logout.text
        session = ApiSession.objects.get(pk=pair["session_id"])
        assert session.revoked_at is not None and session.revoke_reason == "logout"
        assert _status(base, pair["access"]) in (401, 503)

        # Redis comes back with the live marker it held before the sign-out; the server
        # tries it again once its fail-fast window has passed.
        os.kill(redis.process.pid, signal.SIGCONT)
        time.sleep(redis_connection.UNREACHABLE_SECONDS + 0.5)
        assert redis.cli("ping").strip() == "PONG"
        assert _settled_status(base, pair["access"]) == 401
        refresh = httpx.post(
            f"{base}/api/v1/auth/token/refresh", json={"refresh": pair["refresh"]}, timeout=10
        )
        assert refresh.status_code == 401
