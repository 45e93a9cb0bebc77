"""Sign-up on the embedded default (SQLite) under many concurrent clients: the Procfile's web
layout with two workers, the production argon2 parameters, a database file of its own."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import transaction
from rest_framework.test import APIClient

from accounts.models import User
from tests.hashers import FastArgon2PasswordHasher

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLIENTS = 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(var_dir: Path) -> dict[str, str]:
    # Not the test run's settings: no pytest in the server, so the production hasher.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "DEBUG": "true",
        "ROSTER_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'roster.sqlite3'}",
        # The sign-up limits are policy, not what this test measures.
        "API_RATE_LIMITS_ENABLED": "false",
        "RATE_LIMIT_SIGNUP": "100000/m/ip",
        "LOG_LEVEL": "WARNING",
    }


def _register(base: str, n: int) -> int:
    response = httpx.post(
        f"{base}/api/v1/auth/register",
        json={"email": f"crowd-{n}@example.com", "password": f"crowd-password-{n}-x7Q"},
        timeout=120,
    )
    return response.status_code


def test_register_64_concurrent_signups_on_sqlite_all_succeed(tmp_path):
    env = _server_env(tmp_path)
    subprocess.run(  # noqa: S603 - fixed argv, our own venv
        [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    errors = tmp_path / "gunicorn.err"
    with errors.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, our own venv
            [
                str(BIN / "gunicorn"),
                "config.asgi:application",
                "--worker-class",
                "config.gunicorn_worker.RosterWorker",
                "--config",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--no-control-socket",
                "--access-logfile",
                "/dev/null",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(errors.read_text()[-3000:])
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
            with ThreadPoolExecutor(CLIENTS) as pool:
                statuses = list(pool.map(lambda n: _register(base, n), range(CLIENTS)))
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    assert statuses == [201] * CLIENTS, errors.read_text()[-3000:]
    with sqlite3.connect(tmp_path / "roster.sqlite3") as db:
        (created,) = db.execute(
            "SELECT count(*) FROM accounts_user WHERE email LIKE 'crowd-%@example.com'"
        ).fetchone()
    assert created == CLIENTS


class _TransactionWatchingHasher(FastArgon2PasswordHasher):
    """The suite's argon2id, noting whether a transaction was open while it hashed: on
    SQLite an open (IMMEDIATE) transaction holds the one write lock, so every other
    sign-up, login and write of the site waits through the hash."""

    in_transaction_while_hashing: list[bool] = []

    def encode(self, password, salt):
        self.in_transaction_while_hashing.append(transaction.get_connection().in_atomic_block)
        return super().encode(password, salt)


@pytest.mark.django_db(transaction=True)
def test_register_hashes_the_password_before_taking_the_write_lock(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}._TransactionWatchingHasher"]
    _TransactionWatchingHasher.in_transaction_while_hashing = []
    response = APIClient().post(
        "/api/v1/auth/register",
        {"email": "alone@example.com", "password": "alone-password-x7Q"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert _TransactionWatchingHasher.in_transaction_while_hashing == [False]
    user = User.objects.get(email="alone@example.com")
    assert user.check_password("alone-password-x7Q")
