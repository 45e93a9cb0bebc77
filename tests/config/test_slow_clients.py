"""Slow clients hold nothing: the Procfile's ``web`` process (2 workers) keeps answering while
50 sockets trickle their headers or bodies one byte at a time, and each slow client ends
with a 408 or a closed connection, never a 500.

With sync workers, as many such sockets as workers took the whole API down for the worker
timeout (30 s) and the slow clients got a plain-text 500.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.servers import free_port, procfile_line, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
SLOW_SOCKETS = 50
PASSWORD = "correct horse battery staple"


class SlowClients:
    """Sockets that send a request one byte every ``interval`` seconds, from one thread."""

    def __init__(self, port: int, count: int, interval: float = 0.5):
        self.port = port
        self.interval = interval
        self.sockets: list[socket.socket] = []
        self.answers: dict[int, bytes] = {}
        self.ended_at: dict[int, float] = {}
        half = count // 2
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n < half:
                # Headers that never end.
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:
                # Whole headers, then a large body that trickles.
                sock.sendall(
                    b"POST /api/v1/usage/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n["
                )
            sock.setblocking(False)
            self.sockets.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.is_set() and len(self.ended_at) < len(self.sockets):
            for n, sock in enumerate(self.sockets):
                if n in self.ended_at:
                    continue
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data is not None:
                    # The server answered or closed: this client is done.
                    self.answers[n] = self.answers.get(n, b"") + data
                    self.ended_at[n] = time.monotonic()
                    continue
                try:
                    sock.send(b"a")
                except OSError:
                    self.ended_at[n] = time.monotonic()
            self._stop.wait(self.interval)

    def wait_until_all_ended(self, seconds: float) -> None:
        self._thread.join(seconds)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


def _timed_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    started = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=10)
    return response.status_code, time.monotonic() - started


def test_procfile_web_answers_promptly_while_50_slow_clients_trickle_and_ends_them_cleanly(
    tmp_path,
):
    env = {
        "PATH": "/usr/bin:/bin",
        "ROSTER_VAR_DIR": str(tmp_path),
        "DEBUG": "true",
        "API_RATE_LIMITS_ENABLED": "false",
        # Short deadlines so the slow clients' ends are seen within the test.
        "REQUEST_HEADER_TIMEOUT": "4",
        "REQUEST_BODY_TIMEOUT": "4",
    }
    python = str(Path(sys.executable))
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [
            python,
            "manage.py",
            "shell",
            "-c",
            "from tests.factories import UserFactory; UserFactory(email='patient@example.com')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    errors = tmp_path / "web.err"
    output = tmp_path / "web.out"
    web_env = {**env, "ROSTER_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    with errors.open("wb") as err, output.open("wb") as out:
        process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {procfile_line('web')}"],
            cwd=ROOT,
            env=web_env,
            start_new_session=True,
            stdout=out,
            stderr=err,
        )
        slow = None
        try:
            wait_until_up(base, process, errors)
            token = httpx.post(
                f"{base}/api/v1/auth/token",
                json={"email": "patient@example.com", "password": PASSWORD},
                timeout=10,
            ).json()["access"]
            jwt = {"Authorization": f"Bearer {token}"}
            key = httpx.post(
                f"{base}/api/v1/users/me/api-keys",
                json={"name": "reader", "scopes": ["profile:read"]},
                headers=jwt,
                timeout=10,
            ).json()["key"]
            api_key = {"X-API-Key": key}

            slow = SlowClients(port, SLOW_SOCKETS)
            time.sleep(1)  # every slow socket accepted and part-way through its request
            timings = []
            for _ in range(3):
                timings.append(("/health", *_timed_get(f"{base}/health")))
                timings.append(("me (JWT)", *_timed_get(f"{base}/api/v1/users/me", jwt)))
                timings.append(("me (key)", *_timed_get(f"{base}/api/v1/users/me", api_key)))
            still_trickling = SLOW_SOCKETS - len(slow.ended_at)
            slow.wait_until_all_ended(30)
            answers = dict(slow.answers)
            ended = len(slow.ended_at)
        finally:
            if slow is not None:
                slow.close()
            stop(process)

    assert [status for _, status, _ in timings] == [200] * 9, timings
    assert max(seconds for _, _, seconds in timings) < 1.0, timings
    # The reads were served while the slow clients were still sending, not after them.
    assert still_trickling == SLOW_SOCKETS
    assert ended == SLOW_SOCKETS
    status_lines = {answer.split(b"\r\n", 1)[0] for answer in answers.values()}
    assert status_lines <= {b"", b"HTTP/1.1 408 Request Timeout"}, status_lines
    body_answers = [answers[n] for n in range(SLOW_SOCKETS // 2, SLOW_SOCKETS) if answers[n]]
    for answer in body_answers:
        envelope = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert envelope["errors"][0]["code"] == "request_timeout"
