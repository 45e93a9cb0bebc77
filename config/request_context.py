"""What belongs to the request in progress, readable from logs, audit, services and tasks:
its id, and a memo for values read once per request."""

from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# A dict of its own for every request (config.middleware.RequestIDMiddleware sets it), None
# outside one (tasks, the shell): what a request may read once and use several times.
request_memo_var: ContextVar[dict[str, Any] | None] = ContextVar("request_memo", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def request_memo() -> dict[str, Any] | None:
    """The memo of the request in progress, or None outside a request."""
    return request_memo_var.get()
