"""config/buffered_wsgi.py, in-process: how long the application thread has been on a request,
and what ``abandon`` answers once the worker gives that thread up (the worker's side, with a
real gunicorn, is in tests/config/test_gunicorn_worker.py)."""

from __future__ import annotations

import asyncio
import json
import threading

from config.buffered_wsgi import BufferedWSGI
from tests.loops import on_own_thread


def _scope(path: str, headers=()) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": list(headers),
        "http_version": "1.1",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
    }


async def _call(app: BufferedWSGI, path: str, headers=(), sent=None) -> list[dict]:
    sent = [] if sent is None else sent

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(_scope(path, headers), receive, send)
    return sent


def _held_app(release: threading.Event):
    """A WSGI app whose /api/v1/held waits for ``release``, and whose /stream sends 64 KiB
    then waits for it."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/api/v1/held":
            release.wait(10)
        if environ["PATH_INFO"] == "/stream":

            def pieces():
                yield b"x" * 65536
                release.wait(10)
                yield b"rest"

            return pieces()
        return [b"ok"]

    return app


def _status_and_body(sent: list[dict]) -> tuple[int, dict, bytes]:
    start = sent[0]
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_requests_run_on_the_thread_and_nothing_is_overdue_between_them():
    app = BufferedWSGI(_held_app(threading.Event()))

    async def main():
        return await _call(app, "/health")

    status, _, body = _status_and_body(on_own_thread(asyncio.run, main()))
    assert (status, body) == (200, b"ok")
    assert app.overdue(0) is None


def test_abandon_answers_the_held_request_those_queued_behind_it_and_those_after_503():
    release = threading.Event()
    app = BufferedWSGI(_held_app(release))

    async def main():
        held = asyncio.create_task(_call(app, "/api/v1/held"))
        await asyncio.sleep(0.2)
        queued = asyncio.create_task(_call(app, "/health"))
        await asyncio.sleep(0.05)
        overdue = app.overdue(0.1), app.overdue(30)
        app.abandon()
        answers = await asyncio.wait_for(asyncio.gather(held, queued), 5)
        later = await asyncio.wait_for(_call(app, "/health"), 5)
        return overdue, answers, later

    try:
        overdue, (held, queued), later = on_own_thread(asyncio.run, main())
    finally:
        release.set()

    assert overdue == (("GET", "/api/v1/held"), None)
    status, headers, body = _status_and_body(held)
    assert status == 503
    assert headers["retry-after"] == "5"
    assert headers["connection"] == "close"
    assert json.loads(body)["errors"][0]["code"] == "service_unavailable"
    for sent in (queued, later):
        status, headers, body = _status_and_body(sent)
        assert status == 503
        assert headers["content-type"].startswith("text/plain")


def test_answers_from_the_loop_carry_a_request_id_like_every_response():
    release = threading.Event()
    app = BufferedWSGI(_held_app(release))

    async def main():
        held = asyncio.create_task(
            _call(app, "/api/v1/held", headers=[(b"x-request-id", b"fuzz-1:a.b")])
        )
        await asyncio.sleep(0.2)
        queued = asyncio.create_task(
            _call(app, "/api/v1/held", headers=[(b"x-request-id", b"bad id\x01")])
        )
        await asyncio.sleep(0.05)
        app.abandon()
        return await asyncio.wait_for(asyncio.gather(held, queued), 5)

    try:
        held, queued = on_own_thread(asyncio.run, main())
    finally:
        release.set()

    assert _status_and_body(held)[1]["x-request-id"] == "fuzz-1:a.b"  # a valid one echoed
    made = _status_and_body(queued)[1]["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0  # an invalid one replaced, as Django does


def test_abandon_mid_stream_ends_the_call_without_completing_the_response():
    release = threading.Event()
    app = BufferedWSGI(_held_app(release))

    async def main():
        sent = []
        call = asyncio.create_task(_call(app, "/stream", sent=sent))
        # Overdue once the application thread has held the second piece 0.1 s: polled, and
        # only once the first piece went out (a busy machine may be slow on the first one,
        # which would then be the call abandoned).
        overdue = None
        for _ in range(100):
            await asyncio.sleep(0.05)
            overdue = app.overdue(0.1) if sent else None
            if overdue is not None:
                break
        app.abandon()
        return overdue, await asyncio.wait_for(call, 5)

    try:
        overdue, sent = on_own_thread(asyncio.run, main())
    finally:
        release.set()

    assert overdue == ("GET", "/stream")
    assert sent[0]["status"] == 200
    # The first piece went out; no last message follows, so gunicorn closes the connection
    # rather than let the client take half a body for a whole one.
    assert sent[-1]["more_body"] is True
    assert sum(len(m.get("body", b"")) for m in sent[1:]) == 65536


def test_a_request_still_being_read_when_the_thread_is_given_up_is_answered_503():
    release = threading.Event()
    app = BufferedWSGI(_held_app(release))

    async def main():
        held = asyncio.create_task(_call(app, "/api/v1/held"))
        await asyncio.sleep(0.2)
        body_arrives = asyncio.Event()
        sent = []

        async def receive():
            await body_arrives.wait()
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        reading = asyncio.create_task(app(_scope("/api/v1/ok"), receive, send))
        await asyncio.sleep(0.05)  # reading its body
        app.abandon()
        body_arrives.set()
        await asyncio.wait_for(asyncio.gather(held, reading), 5)
        return sent

    try:
        sent = on_own_thread(asyncio.run, main())
    finally:
        release.set()

    # Not left waiting for a thread that will never take it.
    assert _status_and_body(sent)[0] == 503
