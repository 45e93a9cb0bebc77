"""Real servers for the tests that need them: Roster's own web process and redis-server.

One place for starting a process in its own process group, waiting until it answers, and
stopping it (with everything it started) whatever happened in the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_line(name: str) -> str:
    """The command of one Procfile process (``web``, ``worker``, ``beat``)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} process in the Procfile")


def wait_until_up(
    base: str, process: subprocess.Popen, errors: Path | None = None, seconds: int = 60
) -> None:
    """Until ``base``/health answers; the process's stderr (the ``errors`` file, or its
    pipe) is shown if it dies first."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            said = errors.read_text() if errors else process.stderr.read().decode()
            raise RuntimeError(said[-3000:])
        try:
            httpx.get(f"{base}/health", timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start") from None
            time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (SIGCONT first, in case a test froze it), then SIGKILL."""
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def web_server(argv: list[str], *, env: dict, errors: Path, stdout=subprocess.DEVNULL):
    """Run ``argv`` (a web server binding to the port in ``env["ROSTER_TEST_PORT"]``) and
    yield its base URL once it answers."""
    base = f"http://127.0.0.1:{env['ROSTER_TEST_PORT']}"
    with errors.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - the tests' own argv
            argv, cwd=ROOT, env=env, start_new_session=True, stdout=stdout, stderr=err
        )
    try:
        wait_until_up(base, process, errors)
        yield base
    finally:
        stop(process)


def run_side(script: Path, env: dict, *args: str) -> dict:
    """Run a test's helper ``script`` (another process, on the server's database) and return
    the JSON it prints; its stderr is shown if it fails."""
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(script), *args], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return json.loads(done.stdout)


@contextmanager
def procfile_web(
    var: Path,
    *,
    workers: int,
    redis: bool = False,
    prepare: Callable[[dict], dict] | None = None,
) -> Iterator[tuple[str, dict, dict]]:
    """The Procfile's ``web`` process with ``workers`` workers on a database of its own under
    ``var``: on the embedded defaults, or with a redis-server of the test's own when ``redis``
    (the test is skipped if redis-server is not installed). The database is migrated, then
    ``prepare(env)`` runs before the server starts; yields the base URL, the server's
    environment and what ``prepare`` returned. The server's log stays in ``var``."""
    with ExitStack() as stack:
        extra = {}
        if redis:
            if REDIS_SERVER is None:
                pytest.skip("redis-server is not installed")
            extra["REDIS_URL"] = stack.enter_context(redis_server(var)).url
        port = free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            "ROSTER_VAR_DIR": str(var),
            "DEBUG": "true",
            "API_RATE_LIMITS_ENABLED": "false",
            "ROSTER_TEST_PORT": str(port),
            "ROSTER_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(workers),
            **extra,
        }
        subprocess.run(  # noqa: S603 - our own venv
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        prepared = prepare(env) if prepare is not None else {}
        argv = ["bash", "-c", f"exec {procfile_line('web')}"]
        log = stack.enter_context((var / "web.log").open("wb"))
        base = stack.enter_context(web_server(argv, env=env, errors=var / "web.err", stdout=log))
        yield base, env, prepared


class RedisServer:
    """A redis-server of the test's own on a free port (snapshots in ``directory``)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed argv
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, check=False
        ).stdout.decode()

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--dbfilename",
                "snapshot.rdb",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while self.cli("ping").strip() != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            stop_now(self.process)
            self.process = None


def stop_now(process: subprocess.Popen) -> None:
    """SIGKILL (after SIGCONT, in case it is frozen) and reap."""
    try:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
    except ProcessLookupError:
        pass
    process.wait()


@contextmanager
def redis_server(directory: Path):
    redis = RedisServer(directory)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()
