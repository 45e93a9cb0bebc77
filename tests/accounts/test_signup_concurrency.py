"""Sign-up on the embedded default (SQLite) under many concurrent clients: the Procfile's web
line with two workers, the production argon2 parameters, a database file of its own; and the
password hashed before the sign-up's transaction takes SQLite's one write lock."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import transaction
from rest_framework.test import APIClient

from accounts.models import User
from tests.hashers import FastArgon2PasswordHasher
from tests.servers import free_port, procfile_line, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLIENTS = 64


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
    port = free_port()
    env |= {"ROSTER_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    base = f"http://127.0.0.1:{port}"
    errors = tmp_path / "web.err"
    with errors.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - the Procfile's own web line
            ["/bin/sh", "-c", f"exec {procfile_line('web')}"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            wait_until_up(base, process, errors)
            with ThreadPoolExecutor(CLIENTS) as pool:
                statuses = list(pool.map(lambda n: _register(base, n), range(CLIENTS)))
        finally:
            stop(process)

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
