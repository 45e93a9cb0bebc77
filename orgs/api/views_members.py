"""Members of an organization, their permissions (and why), and custom roles."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orgs import selectors
from orgs.api.base import ORG_PARAM, ORG_SCOPES, USER_PARAM, OrgViewSet, visible_organization
from orgs.api.serializers.members import (
    MemberAddSerializer,
    MemberQuerySerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    PermissionExplanationSerializer,
    PermissionsQuerySerializer,
    PermissionUpdateSerializer,
    RoleCreateSerializer,
    RoleSerializer,
    RoleUpdateSerializer,
)
from orgs.models import Membership, Organization, Role
from orgs.permissions import can, explain
from orgs.services import members as member_services
from orgs.services import roles as role_services


def _member(org: Organization, user_id) -> Membership:
    row = selectors.members_of(org).filter(user_id=user_id).first()
    if row is None:
        raise exceptions.NotFound()
    return row


@extend_schema(parameters=[ORG_PARAM])
@extend_schema_view(
    list=extend_schema(
        summary="List members",
        description="Needs `members:read`. Filters `role` (a role key), `team` (a team id), "
        "`q` (email or name). A page of members is a fixed number of queries.",
        parameters=[MemberQuerySerializer],
        responses={200: MemberSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Add a member",
        description="Needs `members:manage`. Adds an existing account at once, by `user` "
        "(id) or `email`; an unknown email is 404 (send an invitation instead). Roles "
        "default to `member`; nobody grants a role they do not hold (403 `cannot_grant`).",
        request=MemberAddSerializer,
        responses={201: MemberSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a member's roles or status",
        description="Needs `members:manage`; owners only for what touches the owner role. "
        "The last owner cannot be demoted or suspended (409 `last_owner`).",
        parameters=[USER_PARAM],
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer},
    ),
    destroy=extend_schema(
        summary="Remove a member, or leave",
        description="Needs `members:manage`, or the member themself (leave). The last owner "
        "cannot go (409 `last_owner`), nor a team's last lead while others remain "
        "(409 `last_lead`).",
        parameters=[USER_PARAM],
    ),
)
class MemberViewSet(OrgViewSet):
    error_codes = {
        "list": {400: ["invalid"]},
        "create": {
            400: ["unknown_role", "invalid_email"],
            403: ["cannot_grant"],
            404: ["user_not_found"],
            409: [
                "already_member",
                "seat_limit_reached",
                "account_inactive",
                "organization_inactive",
            ],
        },
        "partial_update": {
            400: ["unknown_role"],
            403: ["cannot_grant"],
            409: ["last_owner", "cannot_suspend_self", "organization_inactive"],
        },
        "destroy": {409: ["last_owner", "last_lead"]},
        "update_permissions": {
            400: ["unknown_permission", "unknown_role", "contradictory_change"],
            403: ["cannot_grant"],
            409: ["last_owner", "organization_inactive"],
        },
    }
    serializer_class = MemberSerializer
    queryset = Membership.objects.none()

    def list(self, request, org_id=None):
        org = self.organization()
        self.require("members:read", org)
        query = MemberQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        qs = selectors.members_of(
            org, role=params.get("role"), team=params.get("team"), q=params.get("q")
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    def create(self, request, org_id=None):
        org = self.organization()
        body = MemberAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = member_services.find_user(user_id=data.get("user"), email=data.get("email"))
        membership = member_services.member_add(
            organization=org,
            actor=request.user,
            user=user,
            roles=data.get("roles"),
            request=request,
        )
        return Response(
            MemberSerializer(_member(org, membership.user_id)).data, status=status.HTTP_201_CREATED
        )

    def partial_update(self, request, org_id=None, user_id=None):
        org = self.organization()
        _member(org, user_id)
        body = MemberUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member_services.member_update(
            organization=org,
            user_id=user_id,
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(MemberSerializer(_member(org, user_id)).data)

    def destroy(self, request, org_id=None, user_id=None):
        org = self.organization()
        _member(org, user_id)
        member_services.member_remove(
            organization=org, user_id=user_id, actor=request.user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        summary="Why a member can do what",
        description="`members:read`, or the member themself.",
        parameters=[USER_PARAM],
        responses={200: PermissionExplanationSerializer(many=True)},
    )
    def permissions(self, request, org_id=None, user_id=None):
        org = self.organization()
        row = _member(org, user_id)
        if row.user_id != request.user.pk and not can(request.user, "members:read", org):
            raise exceptions.PermissionDenied("This needs the permission members:read.")
        return Response(explain(row.user, org))

    @extend_schema(
        methods=["POST"],
        summary="Update a member's permissions",
        description="Needs `roles:manage`. Direct permissions and roles added and removed at "
        "once. Nobody grants a permission or role they do not hold (403 `cannot_grant`).",
        parameters=[USER_PARAM],
        request=PermissionUpdateSerializer,
        responses={200: MemberSerializer},
    )
    def update_permissions(self, request, org_id=None, user_id=None):
        org = self.organization()
        _member(org, user_id)
        body = PermissionUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member_services.member_permissions_update(
            organization=org,
            user_id=user_id,
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(MemberSerializer(_member(org, user_id)).data)


@extend_schema(
    summary="My permissions in an organization",
    description="The same explanation as a member's permissions, for the caller.",
    parameters=[PermissionsQuerySerializer],
    responses={200: PermissionExplanationSerializer(many=True)},
)
class MyPermissions(APIView):
    required_scopes = ORG_SCOPES
    error_codes = {404: ["not_found"]}

    def get(self, request):
        query = PermissionsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ref = query.validated_data["org"]
        try:
            org = visible_organization(request.user, uuid.UUID(ref))
        except ValueError:
            org = selectors.organizations_visible_to(request.user).filter(slug=ref).first()
            if org is None:
                raise exceptions.NotFound() from None
        return Response(explain(request.user, org))


ROLE_PARAM = OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH)


@extend_schema(parameters=[ORG_PARAM])
@extend_schema_view(
    list=extend_schema(
        summary="Roles",
        description="Built-in roles (`builtin: true`, fixed) and the organization's custom "
        "roles. Needs `members:read`. Not paginated.",
        responses={200: RoleSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Create a custom role",
        description="Needs `roles:manage`; permission keys from the catalogue, and only "
        "those the caller holds (403 `cannot_grant`).",
        request=RoleCreateSerializer,
        responses={201: RoleSerializer},
    ),
    retrieve=extend_schema(summary="One role", parameters=[ROLE_PARAM]),
    partial_update=extend_schema(
        summary="Change a custom role",
        description="Built-in roles cannot be changed (409 `role_builtin`).",
        parameters=[ROLE_PARAM],
        request=RoleUpdateSerializer,
        responses={200: RoleSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a custom role",
        description="409 `role_in_use` while members or pending invitations hold it; "
        "409 `role_builtin` for a built-in role.",
        parameters=[ROLE_PARAM],
    ),
)
class RoleViewSet(OrgViewSet):
    error_codes = {
        "create": {
            400: ["invalid_key", "invalid_characters", "unknown_permission"],
            403: ["cannot_grant"],
            409: ["role_key_taken", "organization_inactive"],
        },
        "partial_update": {
            400: ["invalid_characters", "unknown_permission"],
            403: ["cannot_grant"],
            409: ["role_builtin", "organization_inactive"],
        },
        "destroy": {409: ["role_in_use", "role_builtin", "organization_inactive"]},
    }
    serializer_class = RoleSerializer
    queryset = Role.objects.none()
    pagination_class = None

    def list(self, request, org_id=None):
        org = self.organization()
        self.require("members:read", org)
        return Response(RoleSerializer(selectors.roles_of(org), many=True).data)

    def retrieve(self, request, org_id=None, key=None):
        org = self.organization()
        self.require("members:read", org)
        role = selectors.roles_of(org).filter(key=key).first()
        if role is None:
            raise exceptions.NotFound()
        return Response(RoleSerializer(role).data)

    def create(self, request, org_id=None):
        body = RoleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        role = role_services.role_create(
            organization=self.organization(),
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(RoleSerializer(role).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, org_id=None, key=None):
        body = RoleUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        role = role_services.role_update(
            organization=self.organization(),
            key=key,
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(RoleSerializer(role).data)

    def destroy(self, request, org_id=None, key=None):
        role_services.role_delete(
            organization=self.organization(), key=key, actor=request.user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
