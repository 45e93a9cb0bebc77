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
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_to_bytes

from django.conf import settings

# Bodies larger than this are spooled to a temporary file rather than kept in memory.
_SPOOL_IN_MEMORY = 1024 * 1024
# A streamed response (CSV export, file) is handed to the loop in pieces of about this size.
_RESPONSE_BATCH = 64 * 1024


class _BodyTimedOut(Exception):
    pass


class BufferedWSGI:
    """The ASGI application that runs ``wsgi_app`` once the request has fully arrived."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        # One thread per process runs Django, the way the sync worker did: its database
        # connections, caches and thread-locals live as long as the process.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wsgi")

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
        try:
            body, length = await _read_body(scope, receive)
        except _BodyTimedOut:
            await _send_request_timeout(scope, send)
            return
        environ = _environ(scope, body, length)
        loop = asyncio.get_running_loop()
        status, headers, chunks, rest = await loop.run_in_executor(
            self._executor, self._start, environ
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        while rest is not None:
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            chunks, rest = await loop.run_in_executor(self._executor, _next_batch, *rest)
        await send({"type": "http.response.body", "body": b"".join(chunks)})

    def _start(self, environ):
        """On the application thread: run the WSGI app and collect the first batch of its
        body (all of it, for anything but a streamed response)."""
        started = {}

        def start_response(status, response_headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response_headers
            ]

        result = self.wsgi_app(environ, start_response)
        chunks, rest = _next_batch(result, iter(result))
        return started["status"], started["headers"], chunks, rest


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
    path = scope.get("path", "")
    if path == "/api" or path.startswith("/api/"):
        import json

        from config.api.exceptions import envelope

        content = json.dumps(
            envelope(
                "client_error",
                "request_timeout",
                "The request body did not arrive in time.",
            )
        ).encode()
        content_type = b"application/json"
    else:
        content = b"The request body did not arrive in time.\n"
        content_type = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
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
