"""Rate limits hold across processes: two gunicorn servers (one worker each, so every request's
process is known) on the test database, sharing one budget through Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import UserFactory
from tests.servers import free_port, stop, wait_until_up

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not settings.IS_POSTGRES or not settings.REDIS_URL,
        reason="needs PostgreSQL and Redis: the servers share the test database and cache",
    ),
    # The servers only see committed rows. The seeded rows (roles) come back after the
    # flush through post_migrate, as for every other transaction test: a serialized
    # rollback would insert them a second time after such a test and fail on their names.
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
MEMBER_LIMIT = 6
TOKEN_LIMIT = 3


def _server_env() -> dict:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_TEST_NAME"}
    env.update(
        {
            "DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                f"{db['NAME']}"
            ),
            # Test mode: the test process's keys (var/test) and its Redis cache DB.
            "ROSTER_TESTING": "true",
            "ROSTER_VAR_DIR": str(settings.VAR_DIR),
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_TEST_DB": os.environ.get("REDIS_TEST_DB", "9"),
            "DEBUG": "false",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "API_RATE_LIMITS_ENABLED": "true",
            "API_RATE_LIMIT_MEMBER": f"{MEMBER_LIMIT}/min",
            "API_RATE_LIMIT_TOKEN": f"{TOKEN_LIMIT}/min",
        }
    )
    return env


@contextmanager
def _gunicorn():
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed argv, our own venv
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-control-socket",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_server_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, process.pid
    finally:
        stop(process)


def _away_from_window_edge() -> None:
    """The budgets are fixed one-minute windows: start well inside one."""
    if time.time() % 60 > 40:
        time.sleep(61 - time.time() % 60)


def test_rate_limits_hold_across_two_gunicorn_processes():
    from accounts.apikeys import api_key_create

    member = UserFactory(email="throttled@example.com", roles=["member"])
    _key, raw_key = api_key_create(user=member, name="multi", scopes=["profile:read"], actor=member)
    headers = {"X-API-Key": raw_key}

    with _gunicorn() as (a, pid_a), _gunicorn() as (b, pid_b):
        assert pid_a != pid_b
        _away_from_window_edge()
        # Alternate between the two processes: one budget, whichever answers.
        answers = [
            httpx.get(f"{base}/api/v1/users/me", headers=headers, timeout=10)
            for base in [a, b] * MEMBER_LIMIT
        ]
        codes = [r.status_code for r in answers]
        assert codes == [200] * MEMBER_LIMIT + [429] * MEMBER_LIMIT, codes
        remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in answers[:MEMBER_LIMIT]]
        assert remaining == list(range(MEMBER_LIMIT - 1, -1, -1))
        refused = answers[-1]
        assert refused.json()["errors"][0]["code"] == "throttled"
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["X-RateLimit-Limit"] == str(MEMBER_LIMIT)

        # The stricter per-IP bucket of the token endpoint is shared the same way.
        body = {"email": "nobody@example.com", "password": "wrong-password"}
        token_codes = [
            httpx.post(f"{base}/api/v1/auth/token", json=body, timeout=10).status_code
            for base in [a, b, a, b, a]
        ]
        assert token_codes == [401] * TOKEN_LIMIT + [429] * 2, token_codes
