"""The /users API: own profile, password, settings, export and deletion; user administration.

Who may do what (JWT or session; an API key only where a scope is named):

| route | member | manager | admin | API key |
|---|---|---|---|---|
| GET /users/me, /me/settings, /me/preferences | yes | yes | yes | profile:read |
| PATCH/PUT /users/me, PATCH /me/settings, /me/preferences | yes | yes | yes | profile:write |
| POST /users/me/password, DELETE /users/me, GET /users/me/export | yes | yes | yes | never |
| GET /users | 403 | yes | yes | never |
| GET /users/{id} | own id only, else 404 | yes | yes | never |
| PATCH/DELETE /users/{id} | own id 403, else 404 | 403 | yes | never |
| POST /users/bulk | 403 | 403 | yes | never |

Members never learn whether another user id exists: the lookup is restricted to what the
caller may see before any role check, so another id is 404 whatever the method.
"""

from __future__ import annotations

from django.contrib.auth import HASH_SESSION_KEY, logout
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import APIException, ErrorDetail, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import export, selectors
from accounts.api import users_serializers as s
from accounts.api.filters import UserFilter
from accounts.flows.limits import password_check_attempt
from accounts.flows.reauthentication import recently_reauthenticated
from accounts.models import User
from accounts.services.bulk import BulkConflict, users_bulk
from accounts.services.erasure import user_request_erasure
from accounts.services.fields import PROFILE_ERROR_CODES
from accounts.services.settings import settings_update
from accounts.services.users import (
    user_admin_update,
    user_change_password,
    user_deactivate,
    user_update_profile,
)
from accounts.settings_registry import SETTING_VALUE_ERROR_CODES
from accounts.validators import PASSWORD_ERROR_CODES
from config.api.permissions import NotApiKey
from config.errors import Invalid

USERS_TAG = ["users"]


class CanViewUsers(permissions.BasePermission):
    message = "Only managers and admins may list users."

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("accounts.view_user")


class CanChangeUsers(permissions.BasePermission):
    message = "Only admins may change users."

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("accounts.change_user")


def check_password_or_fail(request: Request, password: str, *, attr: str) -> None:
    with password_check_attempt(request, user=request.user):
        user = request.user
        if not (user.has_usable_password() and user.check_password(password)):
            raise Invalid("invalid_password", "The password is wrong.", attr=attr)


def _require_object(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationError(
            {"non_field_errors": ["Expected a JSON object of {key: value}."]}, code="invalid"
        )
    return data


# --- /users/me -----------------------------------------------------------------------------


class MeView(generics.GenericAPIView):
    error_codes = {
        "put": {400: [*PROFILE_ERROR_CODES, "read_only_field"], 409: ["username_taken"]},
        "patch": {400: [*PROFILE_ERROR_CODES, "read_only_field"], 409: ["username_taken"]},
        "delete": {
            400: ["invalid_password", "required"],
            409: ["user_erased"],
            429: ["too_many_attempts"],
        },
    }
    serializer_class = s.UserSerializer
    required_scopes = ("profile:read", "profile:write")
    queryset = User.objects.none()

    def get_permissions(self):
        if self.request.method == "DELETE":
            return [permissions.IsAuthenticated(), NotApiKey()]
        return super().get_permissions()

    def get_object(self) -> User:
        # OPTIONS (DRF's metadata) asks for the object of a PUT view.
        return self.request.user

    def _me(self) -> User:
        # The authentication already loaded the row; a JWT's load brought the flags too.
        user = self.request.user
        if hasattr(user, "mfa_enabled_flag"):
            return user
        return selectors.with_flags([user])[0]

    @extend_schema(tags=USERS_TAG, summary="Your profile", responses=s.UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(selectors.user_as_dict(self._me()))

    def _update(self, request: Request, *, partial: bool) -> Response:
        serializer = s.UserSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        user_update_profile(
            user=request.user, data=serializer.validated_data, actor=request.user, request=request
        )
        return Response(selectors.user_as_dict(self._me()))

    @extend_schema(
        tags=USERS_TAG,
        summary="Replace your profile",
        description="Every writable field is required. Read-only fields (email, status, "
        "roles, ...) are refused with 400 `read_only_field`, unknown ones with `unknown_field`.",
        request=s.UserSerializer,
        responses=s.UserSerializer,
    )
    def put(self, request: Request) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        tags=USERS_TAG,
        summary="Change your profile",
        description="Any subset of the writable fields. The email address changes through "
        "the email management pages, which verify the new address.",
        request=s.UserSerializer,
        responses=s.UserSerializer,
    )
    def patch(self, request: Request) -> Response:
        return self._update(request, partial=True)

    @extend_schema(
        tags=USERS_TAG,
        summary="Delete your account",
        description=(
            "Needs the password, or (browser session) a reauthentication within the last "
            "minutes. The account is deactivated at once, every session and API key stops "
            "working, and personal data is erased after the grace period "
            "(`ACCOUNT_ERASURE_GRACE_DAYS`, default 30). Usage and audit history stay under "
            "the account's id. Not available to API keys."
        ),
        request=s.AccountDeleteSerializer,
        responses={204: OpenApiResponse(description="Deactivated; erasure scheduled.")},
    )
    def delete(self, request: Request) -> Response:
        serializer = s.AccountDeleteSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        password = serializer.validated_data.get("password")
        if password is not None:
            check_password_or_fail(request, password, attr="password")
        elif not self._recently_reauthenticated(request):
            raise Invalid("required", "Give your password to delete the account.", attr="password")
        user_request_erasure(user=request.user, actor=request.user, request=request)
        if request.auth is not None and request.auth.method == "session":
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _recently_reauthenticated(request: Request) -> bool:
        if getattr(request.auth, "method", None) != "session":
            return False
        return recently_reauthenticated(request._request)


class PasswordView(APIView):
    error_codes = {400: ["invalid_password", *PASSWORD_ERROR_CODES], 429: ["too_many_attempts"]}
    permission_classes = [permissions.IsAuthenticated, NotApiKey]

    @extend_schema(
        tags=USERS_TAG,
        summary="Change your password",
        description=(
            "Wrong current password: 400 `invalid_password` (5 failures per 5 minutes, then "
            "429). The new password goes through the password validators; their codes are "
            "passed through. Every other session (web and API) is revoked; the one making "
            "the request stays signed in. `revoke_api_keys` says which API keys are revoked "
            "too: by default (`recent`) those created in the last 24 hours, older ones keep "
            "working; `all` or `none` on request. Not available to API keys."
        ),
        request=s.PasswordChangeSerializer,
        responses={204: OpenApiResponse(description="Changed.")},
    )
    def post(self, request: Request) -> Response:
        serializer = s.PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        auth = request.auth
        keep_web = keep_api = None
        if auth.method == "session":
            keep_web = auth.session_id
        elif auth.method == "jwt":
            keep_api = auth.session_id
        with password_check_attempt(request, user=request.user):
            user_change_password(
                user=request.user,
                current_password=data["current_password"],
                new_password=data["new_password"],
                actor=request.user,
                request=request,
                keep_web_session_key=keep_web,
                keep_api_session_id=keep_api,
                revoke_api_keys=data["revoke_api_keys"],
            )
        if auth.method == "session":
            # The session's auth hash follows the password, else this session would end too.
            # (Not update_session_auth_hash: it would change the session key we just kept.)
            request._request.session[HASH_SESSION_KEY] = request.user.get_session_auth_hash()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportView(APIView):
    permission_classes = [permissions.IsAuthenticated, NotApiKey]

    @extend_schema(
        tags=USERS_TAG,
        summary="Export your personal data",
        description="Everything Roster holds about you as one JSON document: profile, "
        "settings, sessions, API-key metadata, slots, usage totals, your audit events. "
        "Never secrets. Not available to API keys.",
        responses=s.ExportSerializer,
    )
    def get(self, request: Request) -> Response:
        document = export.user_export(user=request.user)
        response = Response(document)
        response["Content-Disposition"] = 'attachment; filename="roster-export.json"'
        return response


class SettingsView(APIView):
    error_codes = {"patch": {400: SETTING_VALUE_ERROR_CODES}}
    required_scopes = ("profile:read", "profile:write")

    @extend_schema(
        tags=USERS_TAG,
        summary="Your settings",
        description="Every setting of the registry with your value (the default when unset, "
        "or when a stored value no longer fits a changed definition).",
        responses=s.SettingSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.user_settings(user=request.user))

    @extend_schema(
        tags=USERS_TAG,
        summary="Change settings",
        description="`{key: value, ...}`, validated per definition (type, allowed values, "
        "min/max, length, pattern, JSON Schema); `null` resets a key to its default. All or "
        "nothing: any error changes nothing. Errors name the key in `attr` and the rule in "
        "`code` (`unknown_setting`, `invalid_type`, `not_allowed`, `min_value`, `max_value`, "
        "`max_length`, `pattern`, `json_schema`, `invalid_characters`).",
        request=s.SettingsPatchSerializer,
        responses=s.SettingSerializer(many=True),
    )
    def patch(self, request: Request) -> Response:
        settings_update(
            user=request.user,
            values=_require_object(request.data),
            actor=request.user,
            request=request,
        )
        return Response(selectors.user_settings(user=request.user))


class PreferencesView(APIView):
    error_codes = {"patch": {400: SETTING_VALUE_ERROR_CODES}}
    required_scopes = ("profile:read", "profile:write")

    @extend_schema(
        tags=USERS_TAG,
        summary="Your preferences",
        description="Flat `{key: value}` of the settings in category `preferences`.",
        responses=s.PreferencesSerializer,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.user_preferences(user=request.user))

    @extend_schema(
        tags=USERS_TAG,
        summary="Change preferences",
        description="As PATCH /users/me/settings, limited to category `preferences` (other "
        "keys are 400 `unknown_setting`).",
        request=s.PreferencesPatchSerializer,
        responses=s.PreferencesSerializer,
    )
    def patch(self, request: Request) -> Response:
        settings_update(
            user=request.user,
            values=_require_object(request.data),
            actor=request.user,
            request=request,
            category="preferences",
        )
        return Response(selectors.user_preferences(user=request.user))


# --- user administration -------------------------------------------------------------------


class UserListView(generics.ListAPIView):
    serializer_class = s.UserAdminSerializer
    permission_classes = [permissions.IsAuthenticated, NotApiKey, CanViewUsers]
    filter_backends = [DjangoFilterBackend]
    filterset_class = UserFilter
    queryset = User.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        return User.objects.order_by("date_joined", "pk")

    @extend_schema(
        tags=USERS_TAG,
        summary="List users (managers, admins)",
        description="Paginated (`page`, `page_size` ≤ 200). Members get 403.",
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = selectors.with_flags(list(self.paginate_queryset(queryset)))
        return self.get_paginated_response(
            [selectors.user_as_dict(u, admin_fields=True) for u in page]
        )


@extend_schema(
    parameters=[
        OpenApiParameter(
            "user_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="User id."
        )
    ]
)
class UserDetailView(generics.GenericAPIView):
    error_codes = {
        "patch": {
            400: ["invalid_choice", "out_of_range", "read_only_field"],
            409: ["last_admin", "user_erased"],
        },
        "delete": {409: ["last_admin", "user_erased"]},
    }
    serializer_class = s.UserAdminSerializer
    permission_classes = [permissions.IsAuthenticated, NotApiKey]
    queryset = User.objects.none()
    lookup_url_kwarg = "user_id"
    lookup_field = "pk"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        return selectors.users_visible_to(self.request.user)

    def _object_for_change(self) -> User:
        user = self.get_object()  # 404 first: members never learn that an id exists
        if not self.request.user.has_perm("accounts.change_user"):
            raise PermissionDenied("Only admins may change users.")
        return user

    @extend_schema(
        tags=USERS_TAG,
        summary="A user (managers, admins; members only themselves)",
        responses=s.UserAdminSerializer,
    )
    def get(self, request: Request, user_id) -> Response:
        user = selectors.with_flags([self.get_object()])[0]
        return Response(selectors.user_as_dict(user, admin_fields=True))

    @extend_schema(
        tags=USERS_TAG,
        summary="Change status, roles or slot limit (admins)",
        description="Suspending or deactivating revokes the user's sessions and API keys at "
        "once. Removing the last active admin (by role or status) is 409 `last_admin`.",
        request=s.UserAdminSerializer,
        responses=s.UserAdminSerializer,
    )
    def patch(self, request: Request, user_id) -> Response:
        user = self._object_for_change()
        serializer = s.UserAdminSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user_admin_update(
            user=user, actor=request.user, request=request, **serializer.validated_data
        )
        fresh = selectors.user_for_api(user_id=user.pk)
        return Response(selectors.user_as_dict(fresh, admin_fields=True))

    @extend_schema(
        tags=USERS_TAG,
        summary="Deactivate a user (admins)",
        description="Soft delete: the user is deactivated (sessions and keys revoked); "
        "data, usage and audit history stay. Idempotent.",
        responses={204: OpenApiResponse(description="Deactivated.")},
    )
    def delete(self, request: Request, user_id) -> Response:
        user = self._object_for_change()
        user_deactivate(user=user, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BulkConflictError(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, errors: dict[str, list[tuple[str, str]]]):
        super().__init__(
            detail={
                key: [ErrorDetail(detail, code=code) for code, detail in items]
                for key, items in errors.items()
            }
        )


class UserBulkView(APIView):
    error_codes = {
        400: [
            "invalid_choice",
            "empty",
            "max_length",
            *PROFILE_ERROR_CODES,
            *PASSWORD_ERROR_CODES,
            "email_taken",
            "username_taken",
            "not_found",
        ],
        409: ["last_admin", "user_erased"],
    }
    permission_classes = [permissions.IsAuthenticated, NotApiKey, CanChangeUsers]

    @extend_schema(
        tags=USERS_TAG,
        summary="Create, update, deactivate or delete up to 500 users (admins)",
        description=(
            "All or nothing: if any item fails nothing changes and the answer lists every "
            "failing item with `attr` = `users.<index>.<field>`: 409 when every failure is a "
            "conflict (`email_taken`, `username_taken`, `last_admin`, `user_erased`), else "
            "400. `delete` deactivates at "
            "once and erases personal data after the grace period. Each change is audited "
            "as if made one by one. Passwords given to `create` go through the validators; "
            "without one the user sets it through the password reset email."
        ),
        request=s.BulkRequestSerializer,
        responses=s.BulkResponseSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = s.BulkRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = serializer.validated_data["action"]
        items = [
            {k: (str(v) if k == "id" else v) for k, v in item.items()}
            for item in serializer.validated_data["users"]
        ]
        try:
            results = users_bulk(action=action, items=items, actor=request.user, request=request)
        except BulkConflict as exc:
            raise BulkConflictError(exc.errors) from None
        return Response({"action": action, "count": len(results), "results": results})
