"""config/gunicorn_worker.py: the first request's headers have a deadline, and a request that
runs over gunicorn's ``timeout`` is answered 503 while its worker is replaced.

The loop's deadline is tested in-process first; then a real gunicorn (the Procfile's worker
and settings, 2 workers, ``--timeout 2``) serves Roster behind a test-only route that holds
the application thread (tests/config/sleepy_asgi.py), which also holds gunicorn to what the
worker relies on: if gunicorn stopped building its loop through asyncio's policy or serving
through ``loop.create_server``, the trickled headers below would not be cut.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from config.gunicorn_worker import ACCEPT_PAUSE_AFTER, HeaderDeadlineLoop
from tests.config.sleepy_asgi import SLEEP_PATH, SLEEPING_MARK
from tests.loops import on_own_thread
from tests.servers import free_port, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Server(asyncio.Protocol):
    """Stands in for gunicorn's protocol: answers once it has seen a blank line."""

    def __init__(self, log: list):
        self.received = b""
        self.lost = False
        self.transport = None
        log.append(self)

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.received += data
        if self.received.endswith((b"\n\n", b"\r\n\r\n")):
            self.transport.write(ANSWER)

    def connection_lost(self, exc):
        self.lost = True


def _on_deadline_loop(scenario, *, may_accept=None):
    loop = HeaderDeadlineLoop()
    loop.header_timeout = 0.3
    loop.log = logging.getLogger("test.header_deadline")
    if may_accept is not None:
        loop.may_accept = may_accept
    protocols: list[_Server] = []

    async def main():
        # As gunicorn's worker does: a listening socket made by the arbiter, handed over.
        listener = socket.create_server(("127.0.0.1", 0))
        server = await loop.create_server(
            lambda: _Server(protocols), sock=listener, reuse_address=True, start_serving=True
        )
        port = listener.getsockname()[1]
        try:
            return await scenario(port, protocols)
        finally:
            server.close()
            await server.wait_closed()

    try:
        return on_own_thread(loop.run_until_complete, main())
    finally:
        loop.close()


async def _read_all(reader, seconds: float) -> bytes:
    return await asyncio.wait_for(reader.read(), seconds)


def test_header_deadline_answers_408_to_headers_that_trickle():
    async def scenario(port, protocols):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"\r\n")  # an empty line before the request line ends nothing
        for part in (b"GET /health HTTP/1.1\r\n", b"Host: x\r\n", b"X-Slow: a"):
            await asyncio.sleep(0.05)
            writer.write(part)
        answer = await _read_all(reader, 2)
        seconds = time.monotonic() - started
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)  # the server sees the client's end and closes its side
        return answer, seconds, protocols

    answer, seconds, protocols = _on_deadline_loop(scenario)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"\r\n\r\nThe request headers did not arrive in time.\n")
    assert 0.3 <= seconds < 1.0
    # gunicorn's protocol saw every byte and the end of the connection.
    assert protocols[0].received == b"\r\nGET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a"
    assert protocols[0].lost


def test_a_client_that_keeps_sending_still_reads_its_408_whole():
    """The answer is followed by the end of sending only (a lingering close): closing the
    socket while the client still sends would reset the connection and could discard the
    408 before the client read it."""

    async def scenario(port, protocols):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        answer = b""
        while True:
            try:
                data = await asyncio.wait_for(reader.read(4096), 0.05)
            except TimeoutError:
                writer.write(b"a" * 1024)  # unread bytes on the server's side
                continue
            if not data:
                break
            answer += data
        writer.close()
        return answer

    answer = _on_deadline_loop(scenario)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"The request headers did not arrive in time.\n")


@pytest.mark.parametrize(
    "parts",
    [
        [b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"],
        # The blank line split across reads.
        [b"GET /health HTTP/1.1\r\nHost: x\r\n\r", b"\n"],
        # Bare LF line endings: if gunicorn accepts them, no 408 may follow its answer.
        [b"GET /health HTTP/1.0\n\n"],
    ],
    ids=["whole", "split", "bare-lf"],
)
def test_header_deadline_steps_aside_once_the_headers_have_ended(parts):
    async def scenario(port, protocols):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for part in parts:
            writer.write(part)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)  # twice the deadline
        handed_over = protocols[0].transport.get_protocol() is protocols[0]
        writer.write_eof()
        answer = await _read_all(reader, 2)
        writer.close()
        return answer, handed_over

    answer, handed_over = _on_deadline_loop(scenario)
    assert answer == ANSWER
    assert handed_over


def test_a_worker_whose_application_is_held_leaves_new_connections_in_the_queue():
    """While ``may_accept()`` says no (the application thread has been on one call too
    long), a connection waits in the kernel's queue, for another worker to take; it is
    served once the worker may accept again."""
    accepting = {"now": False}

    async def scenario(port, protocols):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.5)  # longer than the header deadline: it has not started
        taken_while_held = len(protocols)
        accepting["now"] = True
        answer = await asyncio.wait_for(reader.readexactly(len(ANSWER)), 2)
        writer.close()
        return taken_while_held, answer

    taken_while_held, answer = _on_deadline_loop(scenario, may_accept=lambda: accepting["now"])
    assert taken_while_held == 0
    assert answer == ANSWER


def _trickle_headers(port: int) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = b""
        sock.settimeout(0.25)
        while time.monotonic() - started < 10:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                sock.sendall(b"X")  # one more byte of a header that never ends
                continue
            if not data:
                break
            answer += data
        return answer, time.monotonic() - started


def test_procfile_worker_cuts_trickled_headers_and_replaces_a_worker_whose_request_overruns(
    tmp_path,
):
    env = {
        "PATH": "/usr/bin:/bin",
        "ROSTER_VAR_DIR": str(tmp_path),
        "DEBUG": "true",
        "API_RATE_LIMITS_ENABLED": "false",
        "REQUEST_HEADER_TIMEOUT": "1",
    }
    python = str(Path(sys.executable))
    subprocess.run(  # noqa: S603 - fixed argv, our own venv
        [python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "web.log"
    errors = tmp_path / "web.err"
    with log.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - the test's own argv
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "tests.config.sleepy_asgi:application",
                "--config",
                "config/gunicorn.py",
                "--worker-class",
                "config.gunicorn_worker.RosterWorker",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "2",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=err,
        )
        try:
            wait_until_up(base, process, errors)
            # Both workers serve before one is held (one answering /health is not both).
            deadline = time.monotonic() + 60
            while log.read_text().count("ASGI server listening") < 2:
                assert time.monotonic() < deadline, "the second worker did not boot"
                time.sleep(0.2)
            trickled, trickled_for = _trickle_headers(port)

            stuck: dict = {}

            def sleep_for_a_minute():
                started = time.monotonic()
                # The query string stands for a secret a URL may carry: it is never logged.
                stuck["response"] = httpx.get(
                    f"{base}{SLEEP_PATH}?seconds=60&token=secret-in-url", timeout=30
                )
                stuck["seconds"] = time.monotonic() - started

            sleeper = threading.Thread(target=sleep_for_a_minute)
            sleeper.start()
            # Once the held worker has been on the sleep for ACCEPT_PAUSE_AFTER it accepts
            # nothing more, so every later connection is the free worker's to answer (one the
            # held worker took would wait, then be answered 503 when it gives up).
            mark = tmp_path / SLEEPING_MARK
            while not mark.exists():
                assert sleeper.is_alive(), stuck
                time.sleep(0.02)
            time.sleep(ACCEPT_PAUSE_AFTER + 0.1)
            served_meanwhile = []
            while sleeper.is_alive():
                served_meanwhile.append(httpx.get(f"{base}/health", timeout=10).status_code)
            sleeper.join()

            # The replacement boots and serves (gunicorn logs each worker's listening line),
            # then /health answers every time, whichever worker takes it.
            deadline = time.monotonic() + 60
            while log.read_text().count("ASGI server listening") < 3:
                assert time.monotonic() < deadline, "no replacement worker"
                time.sleep(0.2)
            in_a_row = 0
            while in_a_row < 10 and time.monotonic() < deadline:
                try:
                    ok = httpx.get(f"{base}/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    ok = False
                in_a_row = in_a_row + 1 if ok else 0
                time.sleep(0.1)
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            master_alive = process.poll() is None
        finally:
            stop(process)

    assert trickled.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), trickled
    assert trickled_for < 5, trickled_for

    response = stuck["response"]
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    # The limit (2 s), the watchdog's step (0.5 s) and slack for a busy machine: never the
    # minute the request asked for.
    assert 2 <= stuck["seconds"] < 10, stuck["seconds"]
    assert served_meanwhile and set(served_meanwhile) == {200}, served_meanwhile

    assert in_a_row == 10
    assert master_alive
    assert "roster_web_requests_timed_out_total 1.0" in metrics

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    overruns = [line for line in lines if "worker timeout" in line["message"]]
    assert len(overruns) == 1, overruns
    assert overruns[0]["level"] == "CRITICAL"
    assert f"GET {SLEEP_PATH}" in overruns[0]["message"]
    assert "secret-in-url" not in log.read_text() + errors.read_text()
    boots = [line for line in lines if line["message"].startswith("Booting worker")]
    assert len(boots) == 3, boots  # two, then the replacement
