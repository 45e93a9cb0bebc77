"""An outage of the database, the cache or the broker is 503 with ``Retry-After``, not 500.

One test, ``is_outage``, used by the API's exception handler (errors inside DRF views), the
API error middleware (errors in other views) and ``handler500`` (errors anywhere else,
middleware included), so every door answers an outage the same way: the client is told
to come back, and monitoring tells "a dependency is down" from "Roster has a bug".
"""

from __future__ import annotations

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django_redis.exceptions import ConnectionInterrupted
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Seconds a client is asked to wait: outages seen here end (restart, failover) or last
# long enough that a retry every few seconds costs nothing.
RETRY_AFTER_SECONDS = 5
OUTAGE_CODE = "service_unavailable"
OUTAGE_DETAIL = "A service Roster depends on is unavailable. Try again shortly."

_OUTAGES: tuple[type[BaseException], ...] = (
    OperationalError,  # connection refused or lost, lock and statement timeouts
    InterfaceError,  # a connection already closed
    ConnectionInterrupted,  # django-redis' wrapper of the two below
    RedisConnectionError,
    RedisTimeoutError,
    BrokerError,  # queueing a task while the broker is down
)


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) is a dependency being unreachable."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, _OUTAGES) and not _is_data_error(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _is_data_error(exc: BaseException) -> bool:
    # Django maps a few errors about the statement itself to OperationalError on SQLite
    # ("no such table"); those are bugs, not outages.
    return isinstance(exc, DatabaseError) and "no such" in str(exc)


def outage_response(request: HttpRequest) -> HttpResponse:
    from config.api.exceptions import envelope

    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            envelope("server_error", OUTAGE_CODE, OUTAGE_DETAIL), status=503
        )
    else:
        response = HttpResponse(
            loader.render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS}),
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
