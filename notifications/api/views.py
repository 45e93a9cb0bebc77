"""Notifications API: a user's own notifications, and a person's message to others."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.pagination import CursorPagination
from config.api.permissions import HasScope
from notifications import selectors, services
from notifications.api.serializers import (
    NotificationQuerySerializer,
    NotificationSendResultSerializer,
    NotificationSendSerializer,
    NotificationSerializer,
    UnreadCountSerializer,
)
from notifications.models import Notification

NOTIFICATION_SCOPES = ("notifications:read", "notifications:write")
TEXT_ERRORS = ["blank", "max_length", "invalid_characters"]


class NotificationCursorPagination(CursorPagination):
    # Newest first; rows created in the same microsecond keep their order by id.
    ordering = ("-created_at", "-id")


class NotificationBase:
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = NOTIFICATION_SCOPES


@extend_schema(
    summary="Your notifications",
    description=(
        "Your own notifications, newest first, cursor-paginated (`next`/`previous` links; "
        "`page_size` up to 200). `?unread=true` lists only those not read yet."
        "need `notifications:read`."
    ),
    parameters=[NotificationQuerySerializer],
)
class NotificationList(NotificationBase, generics.ListAPIView):
    error_codes = {400: ["invalid"]}
    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()
    pagination_class = NotificationCursorPagination
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        query = NotificationQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        unread = query.validated_data.get("unread", False)
        return selectors.notifications_of(self.request.user, unread=unread)


@extend_schema(
    summary="How many notifications you have not read",
    description="Not read yet, across all your notifications.",
    responses={200: UnreadCountSerializer},
)
class NotificationUnreadCount(NotificationBase, APIView):
    def get(self, request):
        return Response({"unread": selectors.unread_count(request.user)})


@extend_schema(
    summary="Mark a notification read",
    description=(
        "Idempotent: a notification already read keeps its first `read_at`. Another "
        "user's notification is 404."
    ),
    parameters=[
        OpenApiParameter(
            "notification_id",
            OpenApiTypes.UUID,
            OpenApiParameter.PATH,
            description="The notification's id.",
        )
    ],
    request=None,
    responses={204: None},
)
class NotificationRead(NotificationBase, APIView):
    def post(self, request, notification_id):
        notification = selectors.notification_of(request.user, notification_id)
        services.notification_mark_read(notification=notification)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    summary="Mark all your notifications read",
    description="Sets `read_at` on every notification not read yet.",
    request=None,
    responses={204: None},
)
class NotificationReadAll(NotificationBase, APIView):
    def post(self, request):
        services.notifications_mark_all_read(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    summary="Send a notification",
    description=(
        "A `message` notification from you to one user (`target_user`) or to the members "
        "of a team (`team`; you are not notified of your own message). Needs "
        "`notifications:send`: managers reach the members of the teams they lead, "
        "organization admins their organization's members, platform admins anyone. A user "
        "or team you cannot see is 404; one you see but may not reach is 403. Stored for "
        "each recipient, then delivered (email per their settings, WebSocket)."
    ),
    request=NotificationSendSerializer,
    responses={202: NotificationSendResultSerializer},
)
class NotificationSend(NotificationBase, APIView):
    error_codes = {400: ["target_required", "invalid", *TEXT_ERRORS], 404: ["not_found"]}

    def post(self, request):
        body = NotificationSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        params = body.validated_data
        sent = services.notifications_send(
            actor=request.user,
            target_user_id=params.get("target_user"),
            team_id=params.get("team"),
            title=params["title"],
            message=params["message"],
            priority=params["priority"],
            data=params.get("data"),
            request=request,
        )
        return Response({"delivered_to": len(sent)}, status=status.HTTP_202_ACCEPTED)
