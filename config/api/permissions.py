"""Permissions shared by every app's API.

Views declare the API-key scopes they need: ``required_scopes = ("slots:read", "slots:write")``
means read methods need the first and write methods the second. JWT and session callers
hold every scope; API keys only those they were created with.
"""

from __future__ import annotations

from rest_framework import exceptions, permissions

API_KEY_SCOPES = (
    "profile:read",
    "profile:write",
    "slots:read",
    "slots:write",
    "usage:read",
    "usage:write",
    "orgs:read",
    "orgs:write",
    "tenants:write",
    "notifications:read",
    "notifications:write",
    "access:check",
    "support:read",
    "support:write",
)


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"
    default_detail = "This API key does not have the scope this action needs."


class HasScope(permissions.BasePermission):
    """API keys need the view's scope; a view that declares none is closed to them.

    A view open to any API key whatever its scopes says so with
    ``api_key_without_scope = True`` (e.g. ``/auth/status``, which tells a key its scopes).
    """

    def has_permission(self, request, view) -> bool:
        needed = getattr(view, "required_scopes", None)
        if not needed:
            if _is_api_key(request) and not getattr(view, "api_key_without_scope", False):
                raise NotApiKey.denied()
            return True
        read_scope, write_scope = needed
        scope = read_scope if request.method in permissions.SAFE_METHODS else write_scope
        auth = request.auth
        if auth is not None and hasattr(auth, "allows") and not auth.allows(scope):
            raise InsufficientScope(f"This API key needs the scope '{scope}'.")
        return True


def _is_api_key(request) -> bool:
    return getattr(request.auth, "method", None) == "api_key"


class NotApiKey(permissions.BasePermission):
    """API keys may never manage keys, sessions or passwords."""

    message = "API keys cannot perform this action; sign in with a token or session."
    code = "api_key_not_allowed"

    @classmethod
    def denied(cls) -> exceptions.PermissionDenied:
        return exceptions.PermissionDenied(cls.message, code=cls.code)

    def has_permission(self, request, view) -> bool:
        return not _is_api_key(request)


class IsAdminRole(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and "admin" in user.roles)
