"""gunicorn's asyncio worker with a deadline for a request's headers.

gunicorn's ``asgi`` worker parses requests on an event loop, so a client trickling its
headers holds no worker; config.buffered_wsgi does the same for bodies. The worker bounds
the headers of a kept-alive connection's next request by the keep-alive timeout but leaves
the first request of a connection unbounded: here its request line and headers must arrive
within ``REQUEST_HEADER_TIMEOUT`` seconds of connecting, or the client reads 408 and the
connection closes. (It reaches into gunicorn's protocol class: gunicorn is pinned, and
tests/config/test_slow_clients.py holds it to this.)
"""

from __future__ import annotations

import gc

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers.gasgi import ASGIWorker


class HeaderDeadlineProtocol(ASGIProtocol):
    _header_deadline = None

    def connection_made(self, transport):
        super().connection_made(transport)
        if self._callback_parser is not None and not self._closed:
            self._header_deadline = self.worker.loop.call_later(
                self.worker.header_timeout, self._headers_too_slow
            )

    def _on_headers_complete(self):
        self._cancel_header_deadline()
        return super()._on_headers_complete()

    def connection_lost(self, exc):
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _cancel_header_deadline(self):
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self):
        self._header_deadline = None
        if self._closed or self._current_request is not None:
            return
        self.log.info(
            "Request headers not received within %ss, closing", self.worker.header_timeout
        )
        self._send_error_response(408, "The request headers did not arrive in time.\n")
        self._close_transport()
        # Wake the connection's task so that it sees the connection closed and ends.
        if self._request_ready is not None:
            self._request_ready.set()


class RosterWorker(ASGIWorker):
    """The ``web`` process's worker (Procfile): see config/buffered_wsgi.py."""

    header_timeout = 10.0

    def load_wsgi(self):
        super().load_wsgi()
        # The application is loaded, so are Roster's settings.
        from django.conf import settings

        self.header_timeout = settings.REQUEST_HEADER_TIMEOUT
        # Everything loaded so far (Django, the apps, their modules) lives as long as the
        # worker: out of the collector's sight, a full collection no longer walks it all
        # (a pause of ~0.1 s every few thousand requests otherwise).
        gc.freeze()

    async def _serve(self):
        # gunicorn builds each connection's protocol from this module-level name.
        import gunicorn.workers.gasgi as gasgi

        gasgi.ASGIProtocol = HeaderDeadlineProtocol
        await super()._serve()
