"""Outages answer 503 ``service_unavailable`` with ``Retry-After``, quickly, at every door.

A real gunicorn serves Roster while its database is unreachable (a closed port) and its
Redis is a real ``redis-server`` that the test stops, freezes (SIGSTOP) and resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from accounts import tokens
from tests.config.test_gunicorn import PROCFILE_APP
from tests.servers import REDIS_SERVER, free_port, redis_server, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def _gunicorn(tmp_path: Path, *, redis_url: str | None = None):
    """Roster on a database that is down (nothing listens on its port)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_TEST_NAME")}
    env.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/roster",
            "ROSTER_TESTING": "true",
            # The same JWT keys as this test process, a cache of the server's own.
            "ROSTER_VAR_DIR": str(settings.VAR_DIR),
            "DEBUG": "false",
            "API_RATE_LIMITS_ENABLED": "false",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["REDIS_TEST_DB"] = "0"
    errors = tmp_path / "gunicorn.err"
    with errors.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, our own venv
            [
                str(Path(sys.executable).with_name("gunicorn")),
                *PROCFILE_APP,
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, errors)
        yield base
    finally:
        stop(process)


def _jwt() -> str:
    """A well-signed access token of a session the server has never seen."""
    access = tokens.AccessToken()
    access["sub"] = str(uuid.uuid4())
    access["sid"] = str(uuid.uuid4())
    access["roles"] = ["member"]
    return str(access)


def _assert_outage(response: httpx.Response, *, api: bool = True) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Retry-After"].isdigit()
    if api:
        body = response.json()
        assert body["type"] == "server_error"
        assert body["errors"][0]["code"] == "service_unavailable"


def test_database_down_is_503_at_every_door(tmp_path):
    with _gunicorn(tmp_path) as base:
        api_key = "rst_0123456789ab_" + "x" * 43
        for response in (
            httpx.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {api_key}"}),
            httpx.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {_jwt()}"}),
            httpx.post(
                f"{base}/api/v1/auth/token",
                json={"email": "someone@example.com", "password": "not-the-password"},
            ),
        ):
            _assert_outage(response)
        # A page whose session must be read from the database.
        page = httpx.get(f"{base}/account/", cookies={"sessionid": "a" * 32})
        _assert_outage(page, api=False)
        assert "Temporarily unavailable" in page.text
        ready = httpx.get(f"{base}/health/ready", timeout=10)
        assert ready.status_code == 503 and "database" in ready.json()["down"]


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")
def test_redis_down_or_frozen_is_a_quick_503_and_recovers(tmp_path):
    with redis_server(tmp_path) as redis, _gunicorn(tmp_path, redis_url=redis.url + "/0") as base:
        headers = {"Authorization": f"Bearer {_jwt()}"}

        os.kill(redis.process.pid, signal.SIGSTOP)
        timings = []
        for _ in range(5):
            started = time.monotonic()
            response = httpx.get(f"{base}/api/v1/users/me", headers=headers, timeout=30)
            timings.append(time.monotonic() - started)
            _assert_outage(response)
        # One bounded wait for the frozen server (socket timeout), then refusals at once;
        # redis-py's own defaults held each request for seconds.
        assert max(timings) < 2.0, timings
        assert sorted(timings)[2] < 0.5, timings
        started = time.monotonic()
        ready = httpx.get(f"{base}/health/ready", timeout=30)
        assert time.monotonic() - started < 2.0
        assert ready.status_code == 503 and "cache" in ready.json()["down"]

        os.kill(redis.process.pid, signal.SIGCONT)
        time.sleep(2.5)  # the fail-fast window of config.redis_connection passes
        ready = httpx.get(f"{base}/health/ready", timeout=30)
        assert ready.json()["checks"]["cache"] == "ok"
