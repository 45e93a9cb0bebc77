"""The caller's sign-ins through the API: their web and API sessions
(``/users/me/sessions``) and their API keys (``/users/me/api-keys``), managed with a JWT or
the browser session, never with a key. Thin: the rules live in accounts.sessions and
accounts.apikeys."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import apikeys, sessions
from accounts.api import auth_serializers as s
from accounts.models import ApiKey
from config.api.permissions import NotApiKey
from config.errors import NotFound

SESSIONS_TAG = ["sessions"]
KEYS_TAG = ["api-keys"]


# --- /users/me/sessions -------------------------------------------------------------------


def _current_ids(request) -> tuple[str | None, str | None]:
    auth = request.auth
    if auth.method == "session":
        return auth.session_id, None
    if auth.method == "jwt":
        return None, auth.session_id
    return None, None


class SessionListView(APIView):
    permission_classes = [permissions.IsAuthenticated, NotApiKey]

    @extend_schema(
        tags=SESSIONS_TAG,
        summary="My web and API sessions",
        description="Live sessions, most recently seen first. Not available to API keys.",
        responses={200: s.SessionSerializer(many=True)},
    )
    def get(self, request):
        web_key, api_id = _current_ids(request)
        views = sessions.user_sessions_list(
            user=request.user, current_web_key=web_key, current_api_id=api_id
        )
        return Response(s.SessionSerializer([v.__dict__ for v in views], many=True).data)


class SessionDetailView(APIView):
    permission_classes = [permissions.IsAuthenticated, NotApiKey]

    @extend_schema(
        tags=SESSIONS_TAG,
        summary="End one of my sessions",
        description="The session stops working at once. Another user's session id is a 404.",
        responses={204: None},
    )
    def delete(self, request, session_id: str):
        sessions.user_session_revoke(
            user=request.user, session_id=session_id, actor=request.user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionRevokeOthersView(APIView):
    permission_classes = [permissions.IsAuthenticated, NotApiKey]

    @extend_schema(
        tags=SESSIONS_TAG,
        summary="End all my other sessions",
        description=(
            "Every web and API session except the one making this request, and every token "
            "of the apps the caller signed in to with Roster (OpenID Connect)."
        ),
        request=None,
        responses={204: None},
    )
    def post(self, request):
        web_key, api_id = _current_ids(request)
        sessions.revoke_user_sessions(
            user=request.user,
            actor=request.user,
            request=request,
            reason="revoked_by_user",
            keep_web_session_key=web_key,
            keep_api_session_id=api_id,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- /users/me/api-keys -------------------------------------------------------------------


@extend_schema(tags=KEYS_TAG)
class ApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """My API keys. Managed with a JWT or the browser session only, never with a key."""

    error_codes = {"create": {400: ["invalid_scope", "expires_in_past"], 409: ["api_key_limit"]}}

    permission_classes = [permissions.IsAuthenticated, NotApiKey]
    serializer_class = s.ApiKeySerializer
    queryset = ApiKey.objects.none()
    filter_backends: list = []
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiKey.objects.none()
        return ApiKey.objects.filter(user=self.request.user, revoked_at__isnull=True).order_by(
            "-created_at"
        )

    def get_object(self):
        try:
            pk = UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise NotFound("not_found", "No such API key.") from None
        key = self.get_queryset().filter(pk=pk).first()
        if key is None:
            raise NotFound("not_found", "No such API key.")
        return key

    @extend_schema(
        summary="Create an API key",
        description="The secret is in `key`, shown this once.",
        request=s.ApiKeyCreateSerializer,
        responses={201: s.ApiKeyCreatedSerializer},
    )
    def create(self, request, *args, **kwargs):
        body = s.ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key, raw = apikeys.api_key_create(
            user=request.user,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data.get("expires_at"),
            actor=request.user,
            request=request,
        )
        key.key = raw
        return Response(s.ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke an API key", responses={204: None})
    def destroy(self, request, *args, **kwargs):
        apikeys.api_key_revoke(
            key=self.get_object(), actor=request.user, request=request, reason="revoked_by_user"
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="My live API keys (never the secrets)")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="One of my API keys", responses={200: s.ApiKeySerializer})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)
