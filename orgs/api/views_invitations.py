"""Invitations: an organization's (``members:invite``) and the invitee's own."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail
from rest_framework.response import Response
from rest_framework.views import APIView

from orgs import selectors
from orgs.api.base import ORG_PARAM, ORG_SCOPES, OrgViewSet
from orgs.api.serializers.invitations import (
    InvitationBulkResultSerializer,
    InvitationBulkSerializer,
    InvitationCreateSerializer,
    InvitationDecisionSerializer,
    InvitationQuerySerializer,
    InvitationSerializer,
)
from orgs.api.serializers.members import MemberSerializer
from orgs.models import Invitation
from orgs.services import invitations as services

INVITATION_PARAM = OpenApiParameter(
    "invitation_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The invitation."
)


class ItemsConflictError(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, errors: dict[str, list[tuple[str, str]]]):
        super().__init__(
            detail={
                key: [ErrorDetail(detail, code=code) for code, detail in items]
                for key, items in errors.items()
            }
        )


@extend_schema(parameters=[ORG_PARAM])
@extend_schema_view(
    list=extend_schema(
        summary="An organization's invitations",
        description="Needs `members:invite`. Filter `status`.",
        parameters=[InvitationQuerySerializer],
        responses={200: InvitationSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Invite someone",
        description="Needs `members:invite`. Mails a single-use link. Roles (default "
        "`member`) and teams are checked now; nobody grants a role they do not hold. "
        "Pending invitations count as seats.",
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer},
    ),
    destroy=extend_schema(summary="Cancel an invitation", parameters=[INVITATION_PARAM]),
)
class OrgInvitationViewSet(OrgViewSet):
    error_codes = {
        "list": {400: ["invalid_choice"]},
        "create": {
            400: ["invalid_email", "unknown_role", "unknown_team"],
            403: ["cannot_grant"],
            409: [
                "already_member",
                "invitation_pending",
                "seat_limit_reached",
                "organization_inactive",
            ],
        },
        "bulk": {
            400: ["invalid_email", "unknown_role", "unknown_team"],
            403: ["cannot_grant"],
            409: [
                "already_member",
                "invitation_pending",
                "duplicate",
                "seat_limit_reached",
                "organization_inactive",
            ],
        },
        "destroy": {409: ["invitation_not_pending"]},
        "resend": {
            409: [
                "invitation_not_pending",
                "already_member",
                "invitation_pending",
                "seat_limit_reached",
                "organization_inactive",
            ]
        },
    }
    serializer_class = InvitationSerializer
    queryset = Invitation.objects.none()

    def list(self, request, org_id=None):
        org = self.organization()
        self.require("members:invite", org)
        qs = selectors.invitations_of(org)
        query = InvitationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data.get("status")
        if wanted is not None:
            now = timezone.now()
            if wanted == "expired":
                qs = qs.filter(status__in=["pending", "expired"]).exclude(
                    status="pending", expires_at__gt=now
                )
            elif wanted == "pending":
                qs = qs.filter(status="pending", expires_at__gt=now)
            else:
                qs = qs.filter(status=wanted)
        page = self.paginate_queryset(qs.order_by("-created_at", "id"))
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)

    def _one(self, pk) -> Invitation:
        return selectors.invitations_of(self.organization()).get(pk=pk)

    def create(self, request, org_id=None):
        body = InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invitation, _raw = services.invitation_create(
            organization=self.organization(),
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(
            InvitationSerializer(self._one(invitation.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Invite up to 500 people",
        description="All or nothing. Bad items: 400 by `invitations.<i>.<field>`; items in "
        "conflict (already a member, an invitation pending, listed twice): 409 the same "
        "way; more than the free seats: 409 `seat_limit_reached`. Nothing is sent unless "
        "every invitation is created.",
        request=InvitationBulkSerializer,
        responses={201: InvitationBulkResultSerializer},
    )
    def bulk(self, request, org_id=None):
        body = InvitationBulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        items = [dict(item) for item in body.validated_data["invitations"]]
        try:
            created = services.invitations_bulk_create(
                organization=self.organization(),
                actor=request.user,
                items=items,
                expires_in_days=body.validated_data.get("expires_in_days"),
                request=request,
            )
        except services.ItemsConflict as exc:
            raise ItemsConflictError(exc.errors) from None
        rows = selectors.invitations_of(self.organization()).filter(pk__in=[i.pk for i in created])
        return Response(
            {"count": len(created), "results": InvitationSerializer(rows, many=True).data},
            status=status.HTTP_201_CREATED,
        )

    def destroy(self, request, org_id=None, invitation_id=None):
        services.invitation_cancel(
            organization=self.organization(),
            invitation_id=invitation_id,
            actor=request.user,
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Resend an invitation",
        description="A new link (the old one stops working) and the expiry restarted.",
        parameters=[INVITATION_PARAM],
        request=None,
        responses={200: InvitationSerializer},
    )
    def resend(self, request, org_id=None, invitation_id=None):
        invitation = services.invitation_resend(
            organization=self.organization(),
            invitation_id=invitation_id,
            actor=request.user,
            request=request,
        )
        return Response(InvitationSerializer(self._one(invitation.pk)).data)


@extend_schema(
    summary="My pending invitations",
    description="Pending invitations addressed to one of the caller's verified emails.",
    responses={200: InvitationSerializer(many=True)},
)
class MyInvitations(APIView):
    required_scopes = ORG_SCOPES

    def get(self, request):
        rows = selectors.pending_invitations_for(request.user).order_by("-created_at", "id")
        return Response(InvitationSerializer(rows, many=True).data)


class _Decision(APIView):
    required_scopes = ORG_SCOPES
    error_codes = {409: ["invitation_expired", "invitation_not_pending"]}

    def _token(self, request) -> str | None:
        body = InvitationDecisionSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        return body.validated_data.get("token")


@extend_schema(
    summary="Accept an invitation",
    description="The invitee: a verified email equal (case-insensitively) to the invited "
    "one, else 404. Joins with the invited roles and teams. Expired: 409 "
    "`invitation_expired`; accepted, declined or canceled: 409 `invitation_not_pending`.",
    parameters=[INVITATION_PARAM],
    request=InvitationDecisionSerializer,
    responses={200: MemberSerializer},
)
class InvitationAccept(_Decision):
    error_codes = {
        409: [
            "invitation_expired",
            "invitation_not_pending",
            "already_member",
            "organization_inactive",
        ]
    }

    def post(self, request, invitation_id=None):
        membership = services.invitation_accept(
            invitation_id=invitation_id,
            user=request.user,
            token=self._token(request),
            request=request,
        )
        row = selectors.members_of(membership.organization).get(pk=membership.pk)
        return Response(MemberSerializer(row).data)


@extend_schema(
    summary="Decline an invitation",
    description="The invitee, as for accepting.",
    parameters=[INVITATION_PARAM],
    request=InvitationDecisionSerializer,
    responses={200: InvitationSerializer},
)
class InvitationDecline(_Decision):
    def post(self, request, invitation_id=None):
        invitation = services.invitation_decline(
            invitation_id=invitation_id,
            user=request.user,
            token=self._token(request),
            request=request,
        )
        row = Invitation.objects.select_related("organization", "invited_by").get(pk=invitation.pk)
        return Response(InvitationSerializer(row).data)
