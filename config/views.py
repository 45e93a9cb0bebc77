"""Service endpoints: liveness, readiness, and the rate-limit answer for plain views."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


def _check_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


READINESS_CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


@require_GET
@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            checks[name] = "down"
    down = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ready" if not down else "unavailable", "checks": checks, "down": down}
    return JsonResponse(body, status=200 if not down else 503)


def ratelimited(request: HttpRequest, exception: Exception):
    """django-ratelimit's answer for plain views: 429 with Retry-After, never 403."""
    if request.path.startswith("/api/"):
        response = JsonResponse(
            envelope("client_error", "throttled", "Too many requests. Try again later."),
            status=429,
        )
    else:
        response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response
