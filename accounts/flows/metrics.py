"""Sign-ins counted for /metrics: ``roster_login_attempts_total{door, result}``
(result: succeeded, failed, locked_out).

The API door counts here directly; the pages and the admin through Django's
``user_logged_in`` / ``user_login_failed`` signals (connected in AccountsConfig.ready).
"""

from __future__ import annotations


def door_of(request) -> str:
    path = getattr(getattr(request, "_request", request), "path", "") or ""
    if path.startswith("/api/"):
        return "api"
    return "admin" if path.startswith("/admin/") else "page"


def count_sign_in(*, door: str, result: str) -> None:
    # Imported here, a real cycle: config.metrics imports config.api.exceptions, which loads
    # DRF, whose settings import accounts.authentication, which imports these flows.
    from config.metrics import LOGIN_ATTEMPTS

    LOGIN_ATTEMPTS.labels(door=door, result=result).inc()


def _counted_door(request) -> str | None:
    # No path: a login made in code (tests' force_login, management commands), not a door.
    if request is None or not getattr(request, "path", ""):
        return None
    door = door_of(request)
    return None if door == "api" else door


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    door = _counted_door(request)
    if door:
        count_sign_in(door=door, result="succeeded")


def on_user_login_failed(sender, credentials, request=None, **kwargs) -> None:
    door = _counted_door(request)
    if door:
        count_sign_in(door=door, result="failed")
