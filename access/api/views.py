"""Access API (docs/api.md, "Access requests and grants"): thin views over
``access.services`` and ``access.selectors``. What the caller may not see is 404; a visible
object the caller may not act on is 403."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import selectors
from access.api.serializers import (
    AccessRequestCreateSerializer,
    AccessRequestQuerySerializer,
    AccessRequestSerializer,
    CheckQuerySerializer,
    CheckSerializer,
    GrantSerializer,
    ResourceCreateSerializer,
    ResourceSerializer,
    ResourceUpdateSerializer,
    ReviewCreateSerializer,
)
from access.models import AccessRequest, Grant, RequestableResource
from access.services import requests as request_services
from access.services import resources as resource_services
from config.errors import Conflict
from orgs.api.base import ORG_PARAM, OrgViewSet, visible_organization
from orgs.permissions import can
from orgs.selectors import organizations_visible_to

ACCESS_CHECK_SCOPES = ("access:check", "access:check")

KEY_PARAM = OpenApiParameter(
    "key", OpenApiTypes.STR, OpenApiParameter.PATH, description="The resource's key."
)
REQUEST_PARAM = OpenApiParameter(
    "request_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The request's id."
)
GRANT_PARAM = OpenApiParameter(
    "grant_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The grant's id."
)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise exceptions.NotFound() from None


def _request_response(pk: Any, code: int = status.HTTP_200_OK) -> Response:
    row = selectors.requests_with_details(AccessRequest.objects.filter(pk=pk)).get()
    return Response(AccessRequestSerializer(row).data, status=code)


@extend_schema(parameters=[ORG_PARAM])
@extend_schema_view(
    list=extend_schema(
        summary="An organization's requestable resources",
        description="Its active members. Stored resources by key, then the built-in "
        "`org-role:<role key>` resources (a role for a while). Not paginated.",
        responses={200: ResourceSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Describe a requestable resource",
        description="Needs `access:manage`. Levels are listed narrowest first; "
        "`auto_approve_levels` must be among them.",
        request=ResourceCreateSerializer,
        responses={201: ResourceSerializer},
    ),
    retrieve=extend_schema(summary="One requestable resource", parameters=[KEY_PARAM]),
    partial_update=extend_schema(
        summary="Change a requestable resource",
        description="Needs `access:manage`. Pending requests keep what they were asked with.",
        parameters=[KEY_PARAM],
        request=ResourceUpdateSerializer,
        responses={200: ResourceSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a requestable resource",
        description="Needs `access:manage`. Grants already given run until they end. "
        "Built-in resources cannot be deleted (409 `resource_builtin`).",
        parameters=[KEY_PARAM],
    ),
)
class ResourceViewSet(OrgViewSet):
    error_codes = {
        "create": {
            400: resource_services.RESOURCE_ERROR_CODES,
            409: ["key_taken", "organization_inactive"],
        },
        "partial_update": {
            400: resource_services.RESOURCE_ERROR_CODES,
            409: ["resource_builtin", "organization_inactive"],
        },
        "retrieve": {404: ["unknown_resource"]},
        "destroy": {409: ["resource_builtin", "organization_inactive"]},
    }
    serializer_class = ResourceSerializer
    queryset = RequestableResource.objects.none()
    pagination_class = None

    def _stored(self, key: str) -> RequestableResource:
        org = self.organization()
        self.require_member(org)
        found = resource_services.resource_get(org, key)
        if found.row is None:
            self.require("access:manage", org)
            raise Conflict("resource_builtin", "Built-in resources are fixed.")
        return found.row

    def list(self, request, org_id=None):
        org = self.organization()
        self.require_member(org)
        rows = resource_services.resources_of(org)
        return Response(ResourceSerializer([r.as_dict() for r in rows], many=True).data)

    def create(self, request, org_id=None):
        body = ResourceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = resource_services.resource_create(
            organization=self.organization(),
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        found = resource_services.resource_get(self.organization(), row.key)
        return Response(ResourceSerializer(found.as_dict()).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, org_id=None, key=None):
        org = self.organization()
        self.require_member(org)
        found = resource_services.resource_get(org, key)
        return Response(ResourceSerializer(found.as_dict()).data)

    def partial_update(self, request, org_id=None, key=None):
        row = self._stored(key)
        body = ResourceUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = resource_services.resource_update(
            resource=row, actor=request.user, request=request, **body.validated_data
        )
        found = resource_services.resource_get(self.organization(), row.key)
        return Response(ResourceSerializer(found.as_dict()).data)

    def destroy(self, request, org_id=None, key=None):
        row = self._stored(key)
        resource_services.resource_delete(resource=row, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="Access requests",
        description="The caller's own requests (`as=requester`), those they review or "
        "reviewed (`as=approver`), or both; newest first.",
        parameters=[AccessRequestQuerySerializer],
        responses={200: AccessRequestSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Ask for access",
        description="Needs `access:request` in the organization. The approvers are resolved "
        "now and returned; the requester is never one. A level in the resource's "
        "`auto_approve_levels` is approved at once (the grant starts).",
        request=AccessRequestCreateSerializer,
        responses={201: AccessRequestSerializer},
    ),
)
class AccessRequestViewSet(OrgViewSet):
    error_codes = {
        "create": request_services.SUBMIT_ERROR_CODES,
        "review": request_services.REVIEW_ERROR_CODES,
        "cancel": request_services.CANCEL_ERROR_CODES,
    }
    serializer_class = AccessRequestSerializer
    queryset = AccessRequest.objects.none()

    def list(self, request):
        query = AccessRequestQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.requests_for(request.user, **query.validated_data)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(AccessRequestSerializer(page, many=True).data)

    def create(self, request):
        body = AccessRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        org = visible_organization(request.user, data.pop("organization"))
        row = request_services.request_submit(
            organization=org, requester=request.user, request=request, **data
        )
        return _request_response(row.pk, status.HTTP_201_CREATED)

    def _visible(self, request_id: Any) -> AccessRequest:
        row = selectors.request_visible(self.request.user, _uuid(request_id))
        if row is None:
            raise exceptions.NotFound()
        return row

    @extend_schema(
        summary="Review an access request",
        description="An approver of the request approves, denies or delegates. "
        "`min_approvals` distinct approvals approve it (the grant starts, narrowed by the "
        "approvers' conditions); one denial denies it. Delegation makes the named member "
        "an approver instead of the caller. 403 for someone who sees it but is no approver.",
        parameters=[REQUEST_PARAM],
        request=ReviewCreateSerializer,
        responses={200: AccessRequestSerializer},
    )
    def review(self, request, request_id=None):
        row = self._visible(request_id)
        body = ReviewCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        request_services.request_review(
            access_request=row, reviewer=request.user, request=request, **body.validated_data
        )
        return _request_response(row.pk)

    @extend_schema(
        summary="Cancel an access request",
        description="The requester, while it is pending.",
        parameters=[REQUEST_PARAM],
        request=None,
        responses={200: AccessRequestSerializer},
    )
    def cancel(self, request, request_id=None):
        row = self._visible(request_id)
        request_services.request_cancel(access_request=row, actor=request.user, request=request)
        return _request_response(row.pk)


@extend_schema(
    summary="My grants",
    description="Every grant the caller holds or held, newest first; `status` is read from "
    "`expires_at`.",
    responses={200: GrantSerializer(many=True)},
)
class MyGrants(OrgViewSet):
    serializer_class = GrantSerializer
    queryset = Grant.objects.none()

    def list(self, request):
        page = self.paginate_queryset(selectors.grants_of_user(request.user))
        return self.get_paginated_response(GrantSerializer(page, many=True).data)


@extend_schema(
    summary="An organization's grants",
    description="Needs `access:manage`.",
    parameters=[ORG_PARAM],
    responses={200: GrantSerializer(many=True)},
)
class OrgGrants(OrgViewSet):
    serializer_class = GrantSerializer
    queryset = Grant.objects.none()

    def list(self, request, org_id=None):
        org = self.organization()
        self.require("access:manage", org)
        page = self.paginate_queryset(selectors.grants_of_organization(org))
        return self.get_paginated_response(GrantSerializer(page, many=True).data)


@extend_schema(
    summary="Revoke a grant",
    description="`access:manage` in its organization, an approver of its request, or the "
    "holder. Ends it at once; 409 `grant_ended` when it already ended.",
    parameters=[GRANT_PARAM],
    request=None,
    responses={200: GrantSerializer},
)
class GrantRevoke(OrgViewSet):
    error_codes = {"revoke": request_services.REVOKE_ERROR_CODES}
    serializer_class = GrantSerializer
    queryset = Grant.objects.none()

    def revoke(self, request, grant_id=None):
        grant = selectors.grant_visible(request.user, _uuid(grant_id))
        if grant is None:
            raise exceptions.NotFound()
        grant = request_services.grant_revoke(grant=grant, actor=request.user, request=request)
        return Response(GrantSerializer(grant).data)


@extend_schema(
    summary="May this user do this now?",
    description="With a JWT: the caller asks about themself. With an API key of scope "
    "`access:check`: about any member, when the key's owner holds `access:manage` in the "
    "organization. A grant past `expires_at` never allows, whether or not the expiry task "
    "has run. `via: role` when the caller holds an `org-role:<key>` resource's role as a "
    "member.",
    parameters=[CheckQuerySerializer],
    responses={200: CheckSerializer},
)
class AccessCheck(APIView):
    required_scopes = ACCESS_CHECK_SCOPES
    error_codes = {404: ["not_found"]}

    def get(self, request):
        query = CheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        if getattr(request.auth, "method", None) == "api_key":
            org = organizations_visible_to(request.user).filter(pk=q["organization"]).first()
            if org is None:
                raise exceptions.NotFound()
            if not can(request.user, "access:manage", org):
                raise exceptions.PermissionDenied("The key's owner needs access:manage here.")
        elif q["user"] != request.user.pk:
            raise exceptions.PermissionDenied("A user asks about themself; services use a key.")
        answer = selectors.access_check(
            user_id=q["user"],
            organization_id=q["organization"],
            resource=q["resource"],
            access_level=q["access_level"],
        )
        return Response(CheckSerializer(answer).data)
