"""Structured logs: one JSON object per line on stdout, carrying the request id."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from config.request_context import current_request_id


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        status_code = getattr(record, "status_code", None)
        if status_code is not None:
            payload["status"] = status_code
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class AccessLogFormatter(JSONFormatter):
    """gunicorn's access log as JSON lines like the application's.

    gunicorn hands its atoms (``%(s)s``, ``%({x-request-id}o)s`` …) over as the record's
    arguments. The request is over by then, so the request id is read from the response's
    ``X-Request-ID`` header, which RequestIDMiddleware always sets. The query string is left
    out: OAuth callbacks carry their authorization code there.
    """

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args if isinstance(record.args, Mapping) else {}

        def atom(key: str) -> str | None:
            value = atoms.get(key)
            if value in (None, "-"):
                return None
            # gunicorn escapes quotes for its text format; JSON escapes them itself.
            return value.replace('\\"', '"') if isinstance(value, str) else value

        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage().replace('\\"', '"'),
            "request_id": atom("{x-request-id}o"),
            "method": atom("m"),
            "path": atom("U"),
            "status": _int_or_none(atom("s")),
            "bytes": atom("B"),
            "duration_ms": _int_or_none(atom("M")),
            "remote_addr": atom("h"),
            "user_agent": atom("a"),
        }
        return json.dumps(payload, default=str)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
