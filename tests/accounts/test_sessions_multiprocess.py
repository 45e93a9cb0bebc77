"""Revocation is immediate across processes: two gunicorn servers on the test database and
the shared cache (Redis, or the file cache), no per-process state in between."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.servers import free_port, stop, wait_until_up

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _server_env(*, rate_limits: bool = False) -> dict:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_TEST_NAME"}
    env.update(
        {
            "DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                f"{db['NAME']}"
            ),
            "ROSTER_TESTING": "true",
            "ROSTER_VAR_DIR": str(settings.VAR_DIR),
            "DEBUG": "false",
            "API_RATE_LIMITS_ENABLED": "true" if rate_limits else "false",
        }
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
        env["REDIS_TEST_DB"] = os.environ.get("REDIS_TEST_DB", "9")
    return env


@contextmanager
def _gunicorn(workers: int = 1, *, rate_limits: bool = False):
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed argv, our own venv
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--no-control-socket",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_server_env(rate_limits=rate_limits),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        stop(process)


def _status(base: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{base}/api/v1/auth/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_revocation_is_immediate_across_two_gunicorn_servers():
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL: the servers must see the test database")
    user = UserFactory(email="multi@example.com")
    with _gunicorn() as a, _gunicorn() as b:
        pair = httpx.post(
            f"{a}/api/v1/auth/token",
            json={"email": user.email, "password": DEFAULT_PASSWORD},
            timeout=10,
        ).json()
        # Both processes accept the token (same keys, same session state).
        assert _status(a, pair["access"]).status_code == 200
        assert _status(b, pair["access"]).status_code == 200

        keeper = httpx.post(
            f"{b}/api/v1/auth/token",
            json={"email": user.email, "password": DEFAULT_PASSWORD},
            timeout=10,
        ).json()
        key = httpx.post(
            f"{b}/api/v1/users/me/api-keys",
            json={"name": "multi", "scopes": ["profile:read"]},
            headers={"Authorization": f"Bearer {keeper['access']}"},
            timeout=10,
        ).json()
        assert _status(a, key["key"]).status_code == 200

        # Revoke through server A ...
        logout = httpx.post(
            f"{a}/api/v1/auth/logout",
            headers={"Authorization": f"Bearer {pair['access']}"},
            timeout=10,
        )
        assert logout.status_code == 204
        revoke = httpx.delete(
            f"{a}/api/v1/users/me/api-keys/{key['id']}",
            headers={"Authorization": f"Bearer {keeper['access']}"},
            timeout=10,
        )
        assert revoke.status_code == 204

        # ... and both servers refuse at once.
        for base in (a, b):
            response = _status(base, pair["access"])
            assert response.status_code == 401
            assert response.json()["errors"][0]["code"] == "token_revoked"
            response = _status(base, key["key"])
            assert response.status_code == 401
            assert response.json()["errors"][0]["code"] == "api_key_revoked"
            assert _status(base, keeper["access"]).status_code == 200
        refresh = httpx.post(
            f"{b}/api/v1/auth/token/refresh", json={"refresh": pair["refresh"]}, timeout=10
        )
        assert refresh.status_code == 401
