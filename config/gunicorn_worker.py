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

Accepting. Every worker's loop listens on the same socket, and a loop is free to accept
while its application thread is busy: left alone, a worker held by a slow request would go
on taking about half the new connections, which then wait behind that request, while the
other worker idles (a sync worker only accepts when it is free). So the loop's servers are
``_GatedServer``s: once the application thread has been on one call for
``ACCEPT_PAUSE_AFTER`` seconds, the worker stops accepting (new connections stay in the
kernel's queue for the other workers) and looks again every ``ACCEPT_RECHECK`` seconds.
Built on the loop's public ``add_reader`` / ``remove_reader`` and
``connect_accepted_socket``; it costs nothing per request on a kept-alive connection.

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
import errno
import functools
import gc
import socket

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

# A worker whose application thread has been on one call this long (seconds) stops
# accepting connections, and looks again this often, until the call returns.
ACCEPT_PAUSE_AFTER = 0.5
ACCEPT_RECHECK = 0.05
# Connections taken per wake-up of the listening socket (asyncio's servers take up to their
# backlog), and the pause after the process ran out of file descriptors or memory.
ACCEPT_BATCH = 100
ACCEPT_OUT_OF_RESOURCES_PAUSE = 1.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


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


class _GatedServer:
    """A server on a listening socket shared with the other workers, which accepts only
    while ``loop.may_accept()`` says so (see "Accepting" above). It answers what gunicorn's
    worker asks of a server: ``close()`` and ``wait_closed()``."""

    def __init__(self, loop: HeaderDeadlineLoop, sock: socket.socket, protocol_factory, ssl):
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol_factory = protocol_factory
        self._ssl = ssl
        self._reading = False
        self._recheck = None
        self._closed = False
        self._connecting = set()
        sock.setblocking(False)
        self._watch()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def is_serving(self) -> bool:
        return not self._closed

    def _watch(self) -> None:
        self._recheck = None
        if not self._closed and not self._reading:
            self._loop.add_reader(self._fd, self._accept)
            self._reading = True

    def _pause(self, seconds: float) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        if self._recheck is None:
            self._recheck = self._loop.call_later(seconds, self._watch)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if not self._loop.may_accept():
                self._pause(ACCEPT_RECHECK)
                return
            try:
                conn, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # another worker took it, or the client gave up first
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                self._loop.log.error("Could not accept a connection: %s; pausing", exc)
                self._pause(ACCEPT_OUT_OF_RESOURCES_PAUSE)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._connect(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, conn, ssl=self._ssl)
        except Exception as exc:  # a TLS handshake that failed, a client gone meanwhile
            conn.close()
            self._loop.log.debug("Connection dropped before it was served: %s", exc)

    def close(self) -> None:
        """Stop accepting and close this worker's copy of the listening socket (as an
        asyncio server does); connections already accepted carry on."""
        if self._closed:
            return
        self._closed = True
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        self._sock.close()

    async def wait_closed(self) -> None:
        return None


class HeaderDeadlineLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose servers give each connection ``header_timeout`` seconds to send
    its first request line and headers, and accept only while ``may_accept()``."""

    header_timeout = 10.0
    log = None

    def may_accept(self) -> bool:
        return True

    async def create_server(self, protocol_factory, *args, sock=None, ssl=None, **kwargs):
        def guarded():
            return _HeaderDeadline(protocol_factory(), self)

        if sock is None or args:
            return await super().create_server(guarded, *args, sock=sock, ssl=ssl, **kwargs)
        # gunicorn hands over its listening sockets (reuse_address, start_serving: already
        # set up and meant to serve at once).
        return _GatedServer(self, sock, guarded, ssl)


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
        if isinstance(app, BufferedWSGI):
            self.loop.may_accept = lambda: app.busy_for() < ACCEPT_PAUSE_AFTER
            if self.cfg.timeout:
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
