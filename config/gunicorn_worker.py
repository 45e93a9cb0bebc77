"""The ``web`` process's worker (Procfile): gunicorn's ``asgi`` worker, plus a deadline for
the first request's headers and a time limit for each request.

Headers. gunicorn's ``asgi`` worker parses requests on an event loop, so a client trickling
its headers holds no worker (config.buffered_wsgi does the same for bodies). It bounds the
headers of a kept-alive connection's next request by ``keepalive``, but nothing bounds the
first request of a connection, and gunicorn 27 has no setting or hook for it
(``limit_request_*`` cap sizes, ``timeout`` bounds bodies and silent workers). So the
deadline is ours, written against asyncio's public API only: the worker's event loop
(``HeaderDeadlineLoop``) puts a ``_HeaderDeadline`` protocol in front of every connection its
servers accept; it watches the bytes go by to gunicorn's protocol, and if the request line
and headers have not ended ``REQUEST_HEADER_TIMEOUT`` seconds after connecting, it answers
408 and closes the connection. Once they end it hands the transport to gunicorn's protocol
(``transport.set_protocol``) and costs nothing more.

What this relies on in gunicorn: a custom ``worker_class`` and the ``asgi_loop`` setting
(documented); that with ``asgi_loop = "asyncio"`` (forced here, so never uvloop) the worker
builds its loop with ``asyncio.new_event_loop()``, so through the event loop policy set in
``init_process``, and serves each listener with ``loop.create_server``, whose protocols are
``asyncio.Protocol``s (what any asyncio server does); and the asgi worker's public-named
``loop``, ``asgi``, ``alive``, ``cfg``, ``log`` and ``pid`` attributes. If that changes, it
fails loudly: a worker whose loop is not ours refuses to boot (``load_wsgi``), and
tests/config/test_gunicorn_worker.py fails if a trickled header is not cut through a real
gunicorn. (asyncio's loop policies are deprecated from Python 3.14: on that Python, pass
the loop class some other way.)

Request time limit. Requests run on one application thread per process
(config.buffered_wsgi) while the loop keeps heart-beating to the arbiter, so gunicorn's
``timeout`` no longer ends a stuck request as it does under the sync worker. The worker
checks instead: once Django has spent longer than ``timeout`` seconds (the same setting,
30 s by default; 0 disables it) on one request, or on one piece of a streamed response, the
worker logs it, counts it (``roster_web_requests_timed_out_total``), answers that request and
every request waiting behind it 503 ``service_unavailable`` with ``Retry-After``, and stops
as on SIGTERM: no new connections, the arbiter starts a new worker, the other workers serve
meanwhile. The stuck thread is a daemon thread, so it does not keep the process alive.
"""

from __future__ import annotations

import asyncio
import functools
import gc

from gunicorn.workers.gasgi import ASGIWorker

from config.buffered_wsgi import BufferedWSGI

_HEADERS_TOO_SLOW_BODY = b"The request headers did not arrive in time.\n"
_HEADERS_TOO_SLOW = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(_HEADERS_TOO_SLOW_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + _HEADERS_TOO_SLOW_BODY
)


# How long a connection answered 408 may go on sending before it is closed.
LINGER_SECONDS = 2.0


class _HeaderDeadline(asyncio.Protocol):
    """In front of gunicorn's protocol until the connection's first headers have ended."""

    def __init__(self, inner: asyncio.Protocol, loop: HeaderDeadlineLoop):
        self._inner = inner
        self._loop = loop
        self._transport = None
        self._timer = None
        self._started = False
        self._tail = b""
        self._lingering = False

    def connection_made(self, transport):
        self._transport = transport
        self._timer = self._loop.call_later(self._loop.header_timeout, self._too_slow)
        self._inner.connection_made(transport)

    def data_received(self, data):
        if self._lingering:
            return  # what a client sends after its 408 is read and dropped
        if self._timer is not None and self._headers_ended(data):
            self._timer.cancel()
            self._timer = None
            # From now on the transport talks to gunicorn's protocol directly.
            self._transport.set_protocol(self._inner)
        self._inner.data_received(data)

    def _headers_ended(self, data: bytes) -> bool:
        seen = self._tail + data
        if not self._started:
            # Empty lines before a request line are allowed (RFC 9112 2.2): they end nothing.
            seen = seen.lstrip(b"\r\n")
            if not seen:
                return False
            self._started = True
        # An empty line ends the headers; bare LF endings count too, so that a request
        # gunicorn accepts is never answered 408 afterwards.
        if b"\n\r\n" in seen or b"\n\n" in seen:
            return True
        self._tail = seen[-2:]
        return False

    def _too_slow(self):
        self._timer = None
        transport = self._transport
        if transport.is_closing():
            return  # gunicorn answered (a 400, 414, 431) and is closing it
        self._loop.log.info(
            "Request headers not received within %ss, closing", self._loop.header_timeout
        )
        transport.write(_HEADERS_TOO_SLOW)
        # A lingering close, as web servers do: closing a socket whose peer is still sending
        # makes the kernel answer with a reset, which can discard the 408 before the client
        # reads it. So only the sending side ends now (FIN after the answer); what arrives
        # meanwhile is dropped, and the socket closes when the client ends too or after
        # LINGER_SECONDS.
        self._lingering = True
        transport.write_eof()
        self._loop.call_later(LINGER_SECONDS, transport.close)

    def eof_received(self):
        if self._lingering:
            return False  # the transport closes itself
        return self._inner.eof_received()

    def connection_lost(self, exc):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self):
        self._inner.pause_writing()

    def resume_writing(self):
        self._inner.resume_writing()


class HeaderDeadlineLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose servers give each connection ``header_timeout`` seconds to send
    its first request line and headers."""

    header_timeout = 10.0
    log = None

    async def create_server(self, protocol_factory, *args, **kwargs):
        def guarded():
            return _HeaderDeadline(protocol_factory(), self)

        return await super().create_server(guarded, *args, **kwargs)


class _HeaderDeadlinePolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return HeaderDeadlineLoop()


class RosterWorker(ASGIWorker):
    """The ``web`` process's worker (Procfile): see config/buffered_wsgi.py."""

    def init_process(self):
        if self.cfg.asgi_loop == "uvloop":
            self.log.warning("asgi_loop = uvloop ignored: Roster's worker runs on asyncio")
        self.cfg.set("asgi_loop", "asyncio")
        asyncio.set_event_loop_policy(_HeaderDeadlinePolicy())
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        if not isinstance(self.loop, HeaderDeadlineLoop):
            raise RuntimeError(
                "gunicorn's asgi worker no longer builds its loop with asyncio.new_event_loop(): "
                "the request header deadline would be lost"
            )
        # The application is loaded, so are Roster's settings.
        from django.conf import settings

        self.loop.header_timeout = settings.REQUEST_HEADER_TIMEOUT
        self.loop.log = self.log
        # Everything loaded so far (Django, the apps, their modules) lives as long as the
        # worker: out of the collector's sight, a full collection no longer walks it all
        # (a pause of ~0.1 s every few thousand requests otherwise).
        gc.freeze()

    def run(self):
        # config.asgi routes HTTP to its ``http_application``, WebSocket elsewhere.
        app = getattr(self.asgi, "http_application", self.asgi)
        if self.cfg.timeout and isinstance(app, BufferedWSGI):
            self.loop.create_task(self._end_overdue_requests(app, self.cfg.timeout))
        super().run()

    async def _end_overdue_requests(self, app: BufferedWSGI, limit: float) -> None:
        every = min(1.0, limit / 4)
        while self.alive:
            await asyncio.sleep(every)
            overdue = app.overdue(limit)
            if overdue is None:
                continue
            method, path = overdue
            self.log.critical(
                "Request over the %ss worker timeout: %s %s; replacing worker (pid:%s)",
                limit,
                method,
                path,
                self.pid,
            )
            _requests_timed_out().inc()
            # Stop as on SIGTERM (no new connections; the arbiter starts a new worker), and
            # answer what this worker's application thread will never run.
            self.alive = False
            app.abandon()
            return


@functools.cache
def _requests_timed_out():
    # Imported in the worker once the settings have set PROMETHEUS_MULTIPROC_DIR, so that
    # the count outlives the worker it ended and /metrics adds it up from any process.
    import prometheus_client

    return prometheus_client.Counter(
        "roster_web_requests_timed_out",
        "Requests that ran over gunicorn's timeout; each replaced the web worker running it",
    )
