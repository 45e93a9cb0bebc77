"""Admin impersonation: an admin views the account pages as a member, for support.

Off unless ``settings.ROSTER["IMPERSONATION_ENABLED"]``. The admin keeps their own web
session; the session only carries a marker naming the member, and
:class:`ImpersonationMiddleware` swaps ``request.user`` for the member on each request after
re-checking that the admin may still do it. No login happens, so the member's sign-in
history, ``last_login`` and sessions list stay untouched, and ending the impersonation just
drops the marker.

While impersonating, the pages that show secrets or change credentials (password, email
addresses, MFA, reauthentication, connected accounts, social sign-in and connect, API-key
creation, account deletion) answer 403, and every HTML page carries a banner with a button
to end the impersonation. Start and end are recorded as ``user.impersonated``
(``metadata.phase`` = start | end).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_protect

from audit.services import record
from config.errors import Forbidden
from config.middleware import is_token_api_request

SESSION_KEY = "_roster_impersonation"
ACTION = "user.impersonated"

# allauth URL names whose pages show secrets or change credentials; blocked by path prefix.
_BLOCKED_URL_NAMES = (
    "account_change_password",
    "account_set_password",
    "account_reset_password",
    "account_email",
    "account_reauthenticate",
    "account_logout",
    "mfa_index",
    "socialaccount_connections",
)
# Roster's own paths: every method.
_BLOCKED_PATHS = (
    # A provider's sign-in start, callback and token endpoints (/accounts/<provider>/login/…,
    # /accounts/oidc/<id>/login/…): whatever their ``process``, a callback completing here
    # would link the admin's identity to the member, or sign someone else in.
    r"^/accounts/(?:[^/]+/)+login/",
    r"^/api/v1/auth/",
    r"^/api/v1/users/me/password/?$",
    r"^/account/(.*/)?(password|mfa|2fa|two-factor|totp|recovery-codes|webauthn|passkeys)(/|$)",
    r"^/account/(.*/)?(delete|close)(/|$)",
)
# Paths where only reading is allowed: creating an API key shows its secret once, and
# deleting the account is not a support task.
_READ_ONLY_PATHS = (
    r"^/api/v1/users/me/api-keys(/|$)",
    r"^/api/v1/users/me/?$",
    r"^/account/(.*/)?api-keys(/|$)",
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_TAG = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)


def impersonation_enabled() -> bool:
    return bool(settings.ROSTER.get("IMPERSONATION_ENABLED", False))


def _max_seconds() -> int:
    return int(settings.ROSTER.get("IMPERSONATION_MAX_SECONDS", 3600))


def may_impersonate(*, actor, user) -> bool:
    """Admins may view as active members; never as staff, another admin, or themselves."""
    if not impersonation_enabled() or actor is None or user is None:
        return False
    if not (actor.is_authenticated and actor.is_active and actor.is_staff):
        return False
    if not (actor.is_superuser or "admin" in actor.roles):
        return False
    if actor.pk == user.pk or user.is_staff or user.is_superuser:
        return False
    return user.status == user.Status.ACTIVE


def impersonation_start(*, actor, user, request: HttpRequest) -> None:
    if not may_impersonate(actor=actor, user=user):
        raise Forbidden("impersonation_not_allowed", "You may not view Roster as this user.")
    if request.session.get(SESSION_KEY):
        raise Forbidden("already_impersonating", "End the current impersonation first.")
    with transaction.atomic():
        record(
            action=ACTION,
            actor=actor,
            target=user,
            request=request,
            metadata={"phase": "start"},
        )
    request.session[SESSION_KEY] = {
        "user_id": str(user.pk),
        "actor_id": str(actor.pk),
        "started_at": timezone.now().isoformat(),
    }


def impersonation_end(*, actor, request: HttpRequest, reason: str = "ended") -> str | None:
    """Drop the marker and record the end; returns the member's id, or None if there was none."""
    state = request.session.pop(SESSION_KEY, None)
    if not state:
        return None
    started = _parse_time(state.get("started_at"))
    with transaction.atomic():
        record(
            action=ACTION,
            actor=actor,
            target=("user", state.get("user_id", "")),
            request=request,
            metadata={
                "phase": "end",
                "reason": reason,
                "seconds": int((timezone.now() - started).total_seconds()) if started else None,
            },
        )
    return state.get("user_id")


def _parse_time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@cache
def _blocked_patterns() -> tuple[re.Pattern, ...]:
    prefixes = []
    for name in _BLOCKED_URL_NAMES:
        try:
            prefixes.append("^" + re.escape(reverse(name)))
        except NoReverseMatch:
            continue
    return tuple(re.compile(p) for p in (*prefixes, *_BLOCKED_PATHS))


@cache
def _read_only_patterns() -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in _READ_ONLY_PATHS)


def is_impersonating(request: HttpRequest) -> bool:
    """True while ``request.user`` is a member shown to an admin (set by the middleware)."""
    return getattr(request, "impersonator", None) is not None


def refusal(request: HttpRequest) -> HttpResponse:
    """The 403 for what may not be done while impersonating: JSON on the API, else a page."""
    detail = "Not available while viewing Roster as another user."
    if request.path_info.startswith("/api/"):
        return JsonResponse(
            {
                "type": "client_error",
                "errors": [{"code": "impersonation_forbidden", "detail": detail, "attr": None}],
            },
            status=403,
        )
    body = render_to_string(
        "admin/roster/impersonation_blocked.html", {"detail": detail}, request=request
    )
    return HttpResponse(body, status=403)


def is_blocked(path: str, method: str) -> bool:
    if any(p.search(path) for p in _blocked_patterns()):
        return True
    return method not in _SAFE_METHODS and any(p.search(path) for p in _read_only_patterns())


class ImpersonationMiddleware:
    """Swap ``request.user`` for the impersonated member; block credential pages; add the banner."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_token_api_request(request):  # no web session, so no marker to find
            return self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or SESSION_KEY not in session:
            return self.get_response(request)
        state = session[SESSION_KEY]
        actor = request.user
        user = self._member(state)
        reason = self._stop_reason(state, actor, user)
        if reason:
            impersonation_end(
                actor=actor if actor.is_authenticated else None, request=request, reason=reason
            )
            return self.get_response(request)

        request.impersonator = actor
        request.user = user
        if request.path_info != reverse("admin:impersonation-end") and is_blocked(
            request.path_info, request.method
        ):
            return refusal(request)
        response = self.get_response(request)
        return self._with_banner(request, response)

    @staticmethod
    def _member(state):
        try:
            return get_user_model().objects.filter(pk=state.get("user_id")).first()
        except (ValueError, TypeError, AttributeError):
            return None

    @staticmethod
    def _stop_reason(state, actor, user) -> str | None:
        if not isinstance(state, dict) or str(getattr(actor, "pk", "")) != state.get("actor_id"):
            return "session_changed"
        if not may_impersonate(actor=actor, user=user):
            return "no_longer_allowed"
        started = _parse_time(state.get("started_at"))
        if started is None or (timezone.now() - started).total_seconds() > _max_seconds():
            return "expired"
        return None

    @staticmethod
    def _with_banner(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        content_type = response.get("Content-Type", "")
        if response.streaming or not content_type.startswith("text/html"):
            return response
        match = _BODY_TAG.search(response.content)
        if match is None:
            return response
        banner = render_to_string(
            "admin/roster/impersonation_banner.html",
            {"impersonator": request.impersonator, "impersonated": request.user},
            request=request,
        ).encode(response.charset or "utf-8")
        end = match.end()
        response.content = response.content[:end] + banner + response.content[end:]
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response


@csrf_protect
def end_view(request: HttpRequest) -> HttpResponse:
    """POST: end the impersonation and go back to the member's page in the admin."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    actor = getattr(request, "impersonator", None) or request.user
    user_id = impersonation_end(
        actor=actor if actor.is_authenticated else None, request=request, reason="ended"
    )
    if user_id is None:
        return redirect("admin:index")
    request.user = actor
    messages.info(request, "You are back in your own account.")
    return redirect("admin:accounts_user_change", user_id)
