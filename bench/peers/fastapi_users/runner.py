"""Start fastapi-users (app.py beside this file) the way the bench starts Roster, and drive it
with the same wrk settings, so the two are measured on one machine in one run.

Its venv lives under var/bench/peers/fastapi_users/ and is made from requirements.txt (every
package pinned, installed with ``--no-deps``) when missing or when the file changed. The
peer gets a PostgreSQL database of its own (``<bench database>_peer``) and two uvicorn
workers; its passwords are argon2id with Roster's parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bench import harness

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
EMAIL = "peer-bench@example.com"
PASSWORD = "peer-bench-password-1"


def _venv(var_dir: Path) -> Path:
    venv = var_dir / "peers" / "fastapi_users" / "venv"
    stamp = venv / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    python = shutil.which("python3.11") or sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(wanted)
    return venv


class PeerServer(harness.Server):
    """fastapi-users under uvicorn, with the harness's interface (base_url, cpu_seconds)."""

    def __init__(self, venv: Path, env: dict[str, str], workers: int):
        super().__init__(env, workers=workers, worker_class="uvicorn", app="app:app")
        self.venv = venv

    def start(self) -> None:
        subprocess.run(
            [str(self.venv / "bin" / "python"), "app.py", "init"],
            cwd=HERE,
            env=self.env,
            check=True,
        )
        self.proc = subprocess.Popen(
            [
                str(self.venv / "bin" / "uvicorn"),
                "app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-access-log",
                "--log-level",
                "warning",
                "--backlog",
                "2048",
            ],
            cwd=HERE,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError("the fastapi-users peer did not become healthy")

    def pids(self) -> list[int]:
        # uvicorn's supervisor and its worker processes.
        pids = super().pids()
        for pid in list(pids[1:]):
            children = Path(f"/proc/{pid}/task/{pid}/children")
            if children.exists():
                pids += [int(p) for p in children.read_text().split()]
        return pids


def _post(base: str, path: str, data: bytes, content_type: str) -> tuple[int, dict]:
    req = urllib.request.Request(  # noqa: S310
        base + path, data=data, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def scenarios(server: PeerServer) -> dict[str, harness.Scenario]:
    """The peer's side of each compared operation, keyed by the Roster scenario's name."""
    credentials = {"email": EMAIL, "password": PASSWORD}
    status, body = _post(
        server.base_url, "/auth/register", json.dumps(credentials).encode(), "application/json"
    )
    if status not in (201, 400):  # 400: REGISTER_USER_ALREADY_EXISTS
        raise RuntimeError(f"peer register failed: {status} {body}")
    form = urllib.parse.urlencode({"username": EMAIL, "password": PASSWORD})
    status, body = _post(
        server.base_url,
        "/auth/jwt/login",
        form.encode(),
        "application/x-www-form-urlencoded",
    )
    if status != 200:
        raise RuntimeError(f"peer login failed: {status} {body}")
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    # Each sign-up a new address: wrk numbers them per thread and request.
    signup_lua = """
local counter = 0
function setup(thread) thread:set("thread_id", counter); counter = counter + 1 end
local n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"email":"peer-%d-%d-%d@example.com","password":"peer-signup-password-1"}',
    os.time(), thread_id, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""
    me = harness.Scenario(
        name="fastapi-users GET /users/me (JWT)", path="/users/me", headers=bearer
    )
    return {
        # /users/me is measured by two of Roster's scenarios: users (100k users) and
        # hot_path (the warm path alone); either one run is compared with the peer.
        "GET /users/me (JWT)": me,
        "me: GET /users/me (JWT)": me,
        "POST /auth/token (login)": harness.Scenario(
            name="fastapi-users POST /auth/jwt/login",
            path="/auth/jwt/login",
            method="POST",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        "POST /auth/register (sign-up)": harness.Scenario(
            name="fastapi-users POST /auth/register",
            path="/auth/register",
            method="POST",
            body="{}",
            lua=signup_lua,
        ),
    }


def start(env: dict[str, str], workers: int) -> PeerServer:
    var_dir = Path(env["ROSTER_VAR_DIR"])
    venv = _venv(var_dir)
    database_url = env["DATABASE_URL"] + "_peer"
    harness.ensure_database({"DATABASE_URL": database_url})
    from django.contrib.auth.hashers import Argon2PasswordHasher

    roster = Argon2PasswordHasher()
    peer_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PEER_DATABASE_URL": database_url.replace("postgres://", "postgresql+asyncpg://", 1),
        "PEER_ARGON2": f"{roster.time_cost},{roster.memory_cost},{roster.parallelism}",
    }
    server = PeerServer(venv, peer_env, workers)
    server.start()
    return server
