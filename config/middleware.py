from __future__ import annotations

import logging
import re
import uuid

from allauth.usersessions.middleware import UserSessionsMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _

from config import outages
from config.api.exceptions import envelope
from config.request_context import request_id_var, request_memo_var

logger = logging.getLogger("roster.request")

# Accept a caller's id only if it is short and plain, so it cannot inject into logs.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(incoming: str) -> str:
    """The id of a request: the caller's ``X-Request-ID`` if valid, else a new one."""
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIDMiddleware:
    """Echo a valid incoming ``X-Request-ID`` or make one; expose it to logs and audit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get("X-Request-ID", ""))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        memo = request_memo_var.set({})
        try:
            response = self.get_response(request)
        finally:
            request_memo_var.reset(memo)
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


_STATUS_CODES = {
    400: ("client_error", "bad_request", _("The request is malformed.")),
    401: ("client_error", "not_authenticated", _("Authentication credentials were not provided.")),
    403: ("client_error", "permission_denied", _("You do not have permission to do this.")),
    404: ("client_error", "not_found", _("Not found.")),
    405: ("client_error", "method_not_allowed", _("Method not allowed.")),
    413: ("client_error", "payload_too_large", _("The request body is too large.")),
    500: ("server_error", "error", _("A server error occurred.")),
}


def _is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/api"


class ApiErrorMiddleware:
    """Errors produced outside DRF (unknown routes, CSRF, crashes) still get the envelope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            _is_api_path(request.path)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            error_type, code, detail = _STATUS_CODES.get(
                response.status_code,
                (
                    "client_error" if response.status_code < 500 else "server_error",
                    "error",
                    _("The request failed."),
                ),
            )
            return JsonResponse(
                envelope(error_type, code, str(detail)), status=response.status_code
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not _is_api_path(request.path):
            return None
        if outages.is_outage(exception):
            logger.warning("outage on %s: %s", request.path, exception.__class__.__name__)
            return outages.outage_response(request)
        logger.exception("unhandled error on %s", request.path)
        return JsonResponse(
            envelope("server_error", "error", str(_("A server error occurred."))), status=500
        )


# --- the lean path of token callers ------------------------------------------------------


# The refresh of an API session: its credential is the refresh token in the body, never a
# cookie, so it is a token request as much as one with a bearer token.
REFRESH_PATHS = frozenset({"/api/v1/auth/token/refresh", "/api/v1/auth/token/refresh/"})


def is_token_api_request(request: HttpRequest) -> bool:
    """An /api/ request that presents a bearer token or an API key, or a token refresh.

    The API authenticates such a request by that credential alone: the JWT and API-key
    classes come before the session's, and a presented credential is accepted or refused,
    never passed over for a session cookie (accounts.authentication). So the browser's
    layers (session, the session's user, messages; web-session tracking and
    impersonation then find no session) have nothing to do for it, while a caller using the
    session cookie, or sending no credential, goes through all of them as before.
    """
    lean = getattr(request, "_token_api", None)
    if lean is None:
        meta = request.META
        path = request.path_info
        lean = path.startswith("/api/") and (
            meta.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
            or "HTTP_X_API_KEY" in meta
            or (path in REFRESH_PATHS and request.method == "POST")
        )
        request._token_api = lean
    return lean


class PageOnlyMixin:
    """Skips this middleware (hooks included) for token API requests
    (:func:`is_token_api_request`); every other request runs it unchanged."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_token_api_request(request):
            return self.get_response(request)
        return super().__call__(request)


class PageOnlySessionMiddleware(PageOnlyMixin, SessionMiddleware):
    """A token API request gets a fresh session that is never loaded nor saved (no cookie
    is read or set): flows shared with the pages (allauth's sign-up) may still use
    ``request.session`` on it, at no cost."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_token_api_request(request):
            request.session = self.SessionStore()
        return super().__call__(request)


class PageOnlyAuthenticationMiddleware(PageOnlyMixin, AuthenticationMiddleware):
    """The session's user for pages. A token API request starts anonymous until DRF
    authenticates its credential."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_token_api_request(request):
            request.user = AnonymousUser()
        return super().__call__(request)


class PageOnlyMessageMiddleware(PageOnlyMixin, MessageMiddleware):
    pass


class PageOnlyUserSessionsMiddleware(PageOnlyMixin, UserSessionsMiddleware):
    """allauth's web-session tracking: a token API request has no web session to track."""
