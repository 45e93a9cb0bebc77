"""Service endpoints: liveness, readiness, and the rate-limit answer for plain views."""

from __future__ import annotations

import logging
import math
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config import outages
from config.api.exceptions import envelope

logger = logging.getLogger(__name__)


@require_GET
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "status": "healthy",
            "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
            "service": settings.SERVICE_NAME,
            "version": settings.VERSION,
        }
    )


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


# Each dependency answers within this many seconds, or counts as down.
READINESS_TIMEOUT = 0.2


def _check_broker() -> None:
    from config.celery import app

    bounded = {"socket_timeout": READINESS_TIMEOUT, "socket_connect_timeout": READINESS_TIMEOUT}
    with app.connection_for_write(
        connect_timeout=READINESS_TIMEOUT, transport_options=bounded
    ) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=READINESS_TIMEOUT)


def _run_check(check) -> Exception | None:
    try:
        check()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return exc


READINESS_CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


@require_GET
@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    # The checks run side by side, so the answer takes as long as the slowest one (bounded
    # by the timeouts of each client), not their sum. The database is checked on this
    # thread, with the request's own connection.
    checks: dict[str, str] = {}
    names = list(READINESS_CHECKS)
    pool = ThreadPoolExecutor(max_workers=len(names) - 1)
    futures = {name: pool.submit(_run_check, READINESS_CHECKS[name]) for name in names[1:]}
    outcomes = {names[0]: _run_check(READINESS_CHECKS[names[0]])}
    # One deadline for all: a check still running then (a frozen server) counts as down.
    done, _ = wait(futures.values(), timeout=READINESS_TIMEOUT * 1.5)
    for name, future in futures.items():
        outcomes[name] = future.result() if future in done else FutureTimeout()
    pool.shutdown(wait=False)
    for name in names:
        exc = outcomes[name]
        if exc is not None:
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
        checks[name] = "ok" if exc is None else "down"
    down = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ready" if not down else "unavailable", "checks": checks, "down": down}
    return JsonResponse(body, status=200 if not down else 503)


def too_many_requests(request: HttpRequest, *, wait: float = 60):
    """A page's answer to a rate limit: 429 with Retry-After (the API's is DRF's Throttled)."""
    if request.path.startswith("/api/"):
        response = JsonResponse(
            envelope("client_error", "throttled", "Too many requests. Try again later."),
            status=429,
        )
    else:
        response = render(request, "429.html", status=429)
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def server_error(request: HttpRequest):
    """``handler500``: what failed outside a view (a middleware, the session store) during
    an outage is 503 with ``Retry-After`` too; anything else stays Django's 500."""
    if outages.is_outage(sys.exc_info()[1]):
        return outages.outage_response(request)
    return defaults.server_error(request)
