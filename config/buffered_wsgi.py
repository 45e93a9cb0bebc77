"""Roster's WSGI application served from an event loop that reads each request first.

A sync worker reads the request itself: a client sending its headers or body one byte at a
time holds the worker (and so the whole API, once there are as many such clients as
workers). Here gunicorn's asyncio worker (config.gunicorn_worker) parses the headers, and
this ASGI application receives the whole body on the event loop, so a slow client costs a
coroutine and nothing else. Only then does the request go to Django's WSGI handler, on one
application thread per worker process: requests run one at a time per process, with
persistent database connections, exactly as under the sync worker. Django's own ASGI handler
was measured too: a thread and a database connection per request, about 50% more CPU per
request on ``GET /api/v1/users/me`` (bench/scenarios/slow_clients.py prints both).

Bodies are bounded on the way in:
- a chunked body (no Content-Length) is read up to the body limit plus one byte and handed
  over with that length, so an oversized one is refused like a sized one (413
  ``payload_too_large`` on the API), as config.request_body does under WSGI;
- a sized body over the limit is not read beyond it (Django refuses it by its declared
  length), except for ``multipart/form-data``, whose file parts the limit does not cover;
- a body that stops coming is answered 408: it has ``REQUEST_BODY_TIMEOUT`` seconds plus
  one second for every ``REQUEST_BODY_MIN_RATE`` bytes that arrived.

The worker (config.gunicorn_worker) asks ``overdue`` how long Django has been on its current
request; when that is over gunicorn's ``timeout`` it calls ``abandon``: the request and those
waiting behind it are answered 503 from the loop, and the worker is replaced. The application
thread is a daemon thread, so a thread stuck for good does not keep the process from exiting.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sys
import tempfile
import threading
import time
from concurrent.futures import Executor, Future
from urllib.parse import unquote_to_bytes

from django.conf import settings

# Bodies larger than this are spooled to a temporary file rather than kept in memory.
_SPOOL_IN_MEMORY = 1024 * 1024
# A streamed response (CSV export, file) is handed to the loop in pieces of about this size.
_RESPONSE_BATCH = 64 * 1024


class _BodyTimedOut(Exception):
    pass


class _Abandoned(Exception):
    """The application thread will not run this call (see ``BufferedWSGI.abandon``)."""


class _ApplicationThread(Executor):
    """Runs the calls submitted to it one after the other on one daemon thread, started on
    the first call (so in the worker, after the fork)."""

    def __init__(self):
        self._calls = queue.SimpleQueue()
        self._thread = None

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        self._calls.put((future, fn, args, kwargs))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wsgi", daemon=True)
            self._thread.start()
        return future

    def _run(self):
        while True:
            future, fn, args, kwargs = self._calls.get()
            if not future.set_running_or_notify_cancel():
                continue  # abandoned while it waited
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, fn, args, kwargs


class BufferedWSGI:
    """The ASGI application that runs ``wsgi_app`` once the request has fully arrived."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        # One thread per process runs Django, the way the sync worker did: its database
        # connections, caches and thread-locals live as long as the process.
        self._executor = _ApplicationThread()
        # Set by the application thread: since when (time.monotonic) it has been on the
        # current call, and for which request (method, path); None between calls.
        self._busy_since = None
        self._busy_with = None
        # The loop's futures of the calls submitted and not yet returned.
        self._waiting = set()
        self._abandoned = False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            # WebSockets arrive with Channels; until then they are refused at the handshake.
            if scope["type"] == "websocket":
                await receive()
                await send({"type": "websocket.close", "code": 1000})
            return
        if self._abandoned:
            await _send_unavailable(scope, send)
            return
        try:
            body, length = await _read_body(scope, receive)
        except _BodyTimedOut:
            await _send_request_timeout(scope, send)
            return
        environ = _environ(scope, body, length)
        try:
            status, headers, chunks, rest = await self._on_thread(self._start, environ)
        except _Abandoned:
            await _send_unavailable(scope, send)
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        while rest is not None:
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            try:
                chunks, rest = await self._on_thread(self._next_piece, environ, *rest)
            except _Abandoned:
                # Half a response: returning now makes gunicorn close the connection, so
                # the client cannot take it for a whole one.
                return
        await send({"type": "http.response.body", "body": b"".join(chunks)})

    async def _on_thread(self, call, *args):
        """``call(*args)`` on the application thread; ``_Abandoned`` if it never returns."""
        if self._abandoned:
            # abandon() ran while this request was being read: the thread will not take it.
            # (abandon() runs on this loop too, so nothing can slip in between.)
            raise _Abandoned()
        future = asyncio.get_running_loop().run_in_executor(self._executor, call, *args)
        self._waiting.add(future)
        try:
            return await future
        except asyncio.CancelledError:
            # abandon() cancelled the future, not the task (a client gone, a shutdown).
            if self._abandoned and not asyncio.current_task().cancelling():
                raise _Abandoned() from None
            raise
        finally:
            self._waiting.discard(future)

    def busy_for(self) -> float:
        """How long (seconds) the application thread has been on its current call; 0 when it
        is idle. Called on the loop."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def overdue(self, limit: float) -> tuple[str, str] | None:
        """The request (method, path with its secrets redacted) the application thread has
        been on for more than ``limit`` seconds, if any. Called on the loop."""
        since, request = self._busy_since, self._busy_with
        if since is None or time.monotonic() - since <= limit or request is None:
            return None
        from config.logging import redact_path

        method, path = request
        return method, redact_path(path)

    def abandon(self) -> None:
        """Give up on the application thread (called on the loop): every request waiting
        for it, the running one included, and every request after, is answered 503."""
        self._abandoned = True
        for future in list(self._waiting):
            future.cancel()

    def _start(self, environ):
        """On the application thread: run the WSGI app and collect the first batch of its
        body (all of it, for anything but a streamed response)."""
        self._busy_with = (environ["REQUEST_METHOD"], environ["PATH_INFO"])
        self._busy_since = time.monotonic()
        started = {}

        def start_response(status, response_headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response_headers
            ]

        try:
            result = self.wsgi_app(environ, start_response)
            chunks, rest = _next_batch(result, iter(result))
        finally:
            self._busy_since = None
        return started["status"], started["headers"], chunks, rest

    def _next_piece(self, environ, result, iterator):
        """On the application thread: the next piece of a streamed response."""
        self._busy_with = (environ["REQUEST_METHOD"], environ["PATH_INFO"])
        self._busy_since = time.monotonic()
        try:
            return _next_batch(result, iterator)
        finally:
            self._busy_since = None


def _next_batch(result, iterator):
    """Up to about ``_RESPONSE_BATCH`` bytes of a WSGI body, and ``(result, iterator)`` if
    more follows, else ``None`` once the body is closed."""
    chunks, size = [], 0
    try:
        for chunk in iterator:
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
            if size >= _RESPONSE_BATCH:
                return chunks, (result, iterator)
    except BaseException:
        _close(result)
        raise
    _close(result)
    return chunks, None


def _close(result) -> None:
    # Django's response.close() sends request_finished, which closes expired database
    # connections: it must run on the application thread, where those connections live.
    close = getattr(result, "close", None)
    if close is not None:
        close()


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def _read_body(scope, receive):
    """The request body as a file and its length, read on the event loop."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    declared = _header(scope, b"content-length")
    content_type = (_header(scope, b"content-type") or b"").lower()
    if declared is None:
        # Chunked (or no body): read up to the limit plus one byte, like config.request_body.
        cap = None if limit is None else limit + 1
    elif limit is not None and not content_type.startswith(b"multipart/form-data"):
        # Django refuses a body declared over the limit without reading it.
        cap = limit + 1
    else:
        cap = None
    timeout = settings.REQUEST_BODY_TIMEOUT
    min_rate = settings.REQUEST_BODY_MIN_RATE
    loop = asyncio.get_running_loop()
    started = loop.time()
    body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    received = 0
    more = True
    while more and (cap is None or received < cap):
        left = started + timeout + received / min_rate - loop.time()
        try:
            message = await asyncio.wait_for(receive(), timeout=max(left, 0))
        except TimeoutError:
            body.close()
            raise _BodyTimedOut() from None
        if message["type"] == "http.disconnect":
            # Gone, or (gunicorn's own bound) silent for the worker timeout: if the client
            # is still there it reads a 408.
            body.close()
            raise _BodyTimedOut()
        chunk = message.get("body", b"")
        if cap is not None and received + len(chunk) > cap:
            chunk = chunk[: cap - received]
        body.write(chunk)
        received += len(chunk)
        more = message.get("more_body", False)
    body.seek(0)
    if declared is None:
        return body, received
    return body, int(declared)


async def _send_request_timeout(scope, send) -> None:
    await _send_error(
        scope,
        send,
        408,
        ("client_error", "request_timeout", "The request body did not arrive in time."),
    )


async def _send_unavailable(scope, send) -> None:
    await _send_error(
        scope,
        send,
        503,
        (
            "server_error",
            "service_unavailable",
            "The server could not answer in time. Try again shortly.",
        ),
        extra_headers=[(b"retry-after", b"5")],
    )


async def _send_error(scope, send, status: int, error: tuple[str, str, str], extra_headers=()):
    """The API's error envelope under /api, the detail as plain text elsewhere, with an
    ``X-Request-ID`` like every response (a valid incoming one echoed); the connection
    closes."""
    from config.middleware import request_id_from

    incoming = dict(scope.get("headers") or ()).get(b"x-request-id", b"")
    request_id = request_id_from(incoming.decode("latin-1"))
    path = scope.get("path", "")
    if path == "/api" or path.startswith("/api/"):
        from config.api.exceptions import envelope

        content = json.dumps(envelope(*error)).encode()
        content_type = b"application/json"
    else:
        content = error[2].encode() + b"\n"
        content_type = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
                (b"x-request-id", request_id.encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def _environ(scope, body, length: int) -> dict:
    raw_path = scope.get("raw_path")
    if raw_path:
        path_info = unquote_to_bytes(raw_path.split(b"?", 1)[0]).decode("latin-1")
    else:
        path_info = scope["path"].encode("utf-8").decode("latin-1")
    root_path = scope.get("root_path", "")
    if root_path and path_info.startswith(root_path):
        path_info = path_info[len(root_path) :]
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if len(server) > 1 and server[1] is not None else "",
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client[0] if client else "",
        "REMOTE_PORT": str(client[1]) if client else "",
        "CONTENT_LENGTH": str(length) if length else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        value = value.decode("latin-1")
        if key == "CONTENT_LENGTH":
            continue
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
