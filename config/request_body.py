"""Chunked request bodies for WSGI: read them, bounded like any other body.

Clients that stream (curl with ``-T -``, Go's and Java's HTTP clients) send
``Transfer-Encoding: chunked`` and no ``Content-Length``. gunicorn decodes the chunks into
``wsgi.input`` and says so with ``wsgi.input_terminated``, but Django sizes the body from
``CONTENT_LENGTH`` alone and reads nothing, so the API saw an empty body. This middleware
reads the decoded stream up to the body limit plus one byte and hands Django a sized body:
within the limit it is the whole body; over it, the declared length is over the limit too,
and the request is refused exactly as a ``Content-Length`` body that large (413
``payload_too_large`` on the API, Django's 400 on pages), without reading the rest.
"""

from __future__ import annotations

import io

from django.conf import settings


class ChunkedBodyMiddleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if (
            environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            stream = environ["wsgi.input"]
            body = stream.read() if limit is None else stream.read(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)
