"""Structured logs: one JSON object per line on stdout, carrying the request id.

No secret carried in a URL reaches a log line: every message (Django's request and server
logs, gunicorn's access and error logs, tracebacks) goes through ``redact_path``, and so do
the audit log's recorded values (``audit.masking``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from config.request_context import current_request_id

REDACTED = "[redacted]"

# Links whose last segment is a secret: allauth's password reset
# (/accounts/password/reset/key/<uidb36>-<key>/) and email confirmation
# (/accounts/confirm-email/<key>/). Anyone holding the key takes over the account.
_KEY_IN_PATH = re.compile(r"(/password/reset/key/|/confirm-email/)(?!done/)[^/?#\s\"'<>]+")
# Query string values (OAuth's code and state, a token pasted into a link); names are kept.
_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"'<>]*=)[^&#\s\"'<>]+")


def redact_path(text: str) -> str:
    """``text`` (a path, a URL, a request line or a whole log message) with every secret a
    URL may carry replaced by ``[redacted]``: the key of a password-reset or email-confirmation
    link, and the value of every query parameter."""
    if not isinstance(text, str) or ("/" not in text and "?" not in text):
        return text
    text = _KEY_IN_PATH.sub(lambda m: m.group(1) + REDACTED, text)
    return _QUERY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)


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
            "message": redact_path(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        status_code = getattr(record, "status_code", None)
        if status_code is not None:
            payload["status"] = status_code
        if record.exc_info:
            payload["exc"] = redact_path(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class AccessLogFormatter(JSONFormatter):
    """gunicorn's access log as JSON lines like the application's.

    gunicorn hands its atoms (``%(s)s``, ``%({x-request-id}o)s`` …) over as the record's
    arguments. The request is over by then, so the request id is read from the response's
    ``X-Request-ID`` header, which RequestIDMiddleware always sets. The query string is left
    out: OAuth callbacks carry their authorization code there. Paths are redacted
    (``redact_path``): password-reset and email-confirmation links carry their key.
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
            "message": redact_path(record.getMessage().replace('\\"', '"')),
            "request_id": atom("{x-request-id}o"),
            "method": atom("m"),
            "path": redact_path(atom("U")),
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
