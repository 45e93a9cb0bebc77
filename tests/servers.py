"""Real servers for the tests that need them: Roster's own web process and redis-server.

One place for starting a process in its own process group, waiting until it answers, and
stopping it (with everything it started) whatever happened in the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

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
