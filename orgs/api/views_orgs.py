"""Organizations, their domains, the plans, the permission catalogue and tenant onboarding."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.permissions import HasScope
from orgs import selectors
from orgs.api.base import ORG_PARAM, ORG_SCOPES, UUID_RE, OrgViewSet, visible_organization
from orgs.api.serializers.organizations import (
    CatalogueEntrySerializer,
    DomainCreateSerializer,
    DomainSerializer,
    DomainUpdateSerializer,
    OrganizationCreateSerializer,
    OrganizationQuerySerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
    PlanSerializer,
    TenantCreateSerializer,
    TenantSerializer,
)
from orgs.catalogue import PERMISSIONS
from orgs.models import Organization
from orgs.permissions import is_platform_admin
from orgs.services import domains as domain_services
from orgs.services import organizations as org_services
from orgs.services.tenants import tenant_onboard


def _org_response(org: Organization, code: int = status.HTTP_200_OK) -> Response:
    return Response(selectors.organization_as_dict(org), status=code)


@extend_schema_view(
    list=extend_schema(
        summary="List organizations",
        description="The organizations the caller belongs to (archived ones left out); "
        "platform admins see all. Filters `q` (name or slug) and `status`.",
        parameters=[OrganizationQuerySerializer],
    ),
    create=extend_schema(
        summary="Create an organization",
        description="Verified users may own up to `ORGS_PER_USER` organizations (default 5; "
        "platform admins: no limit). The creator becomes its `owner`. The slug defaults to "
        "one made from the name.",
        request=OrganizationCreateSerializer,
        responses={201: OrganizationSerializer},
    ),
    retrieve=extend_schema(
        summary="One organization", description="Members and platform admins; others 404."
    ),
    partial_update=extend_schema(
        summary="Change an organization",
        description="Needs `org:update`.",
        request=OrganizationUpdateSerializer,
        responses={200: OrganizationSerializer},
    ),
    destroy=extend_schema(
        summary="Archive an organization",
        description="Owners only (`org:delete`). Members lose its roles and grants at once; "
        "pending invitations are canceled; the data is kept, readable by platform admins.",
    ),
)
class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    OrgViewSet,
):
    error_codes = {
        "list": {400: ["invalid_choice"]},
        "create": {
            400: ["invalid_slug", "invalid_characters", "blank"],
            403: ["email_unverified"],
            409: ["slug_taken", "org_limit_reached"],
        },
        "partial_update": {
            400: ["invalid_slug", "invalid_characters", "blank"],
            409: ["slug_taken", "organization_inactive"],
        },
        "destroy": {409: ["organization_archived"]},
    }
    serializer_class = OrganizationSerializer
    queryset = Organization.objects.none()
    lookup_value_regex = UUID_RE
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Organization.objects.none()
        return selectors.organizations_visible_to(self.request.user)

    def get_object(self):
        return visible_organization(self.request.user, self.kwargs["pk"])

    def list(self, request, *args, **kwargs):
        query = OrganizationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        qs = self.get_queryset()
        if query.validated_data.get("q"):
            q = query.validated_data["q"]
            qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q.lower()))
        if "status" in query.validated_data:
            qs = qs.filter(status=query.validated_data["status"])
        page = self.paginate_queryset(qs.order_by("name", "id"))
        return self.get_paginated_response(OrganizationSerializer(page, many=True).data)

    def create(self, request, *args, **kwargs):
        body = OrganizationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        org = org_services.org_create(**body.validated_data, actor=request.user, request=request)
        return _org_response(org, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        org = self.get_object()
        body = OrganizationUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        org = org_services.org_update(
            organization=org, **body.validated_data, actor=request.user, request=request
        )
        return _org_response(org)

    def destroy(self, request, *args, **kwargs):
        org_services.org_archive(
            organization=self.get_object(), actor=request.user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


DOMAIN_PARAM = OpenApiParameter("domain", OpenApiTypes.STR, OpenApiParameter.PATH)


@extend_schema(parameters=[ORG_PARAM])
@extend_schema_view(
    list=extend_schema(
        summary="An organization's domains", responses={200: DomainSerializer(many=True)}
    ),
    create=extend_schema(
        summary="Add a domain",
        description="Needs `org:update`. The domain is verified at once when the caller "
        "holds a verified email there; otherwise a platform admin confirms it "
        "(`POST …/verify`). With a verified domain, `join_mode: suggest` lists the "
        "organization to users with a verified email there, `auto` makes them members.",
        request=DomainCreateSerializer,
        responses={201: DomainSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a domain's join mode",
        parameters=[DOMAIN_PARAM],
        request=DomainUpdateSerializer,
        responses={200: DomainSerializer},
    ),
    destroy=extend_schema(summary="Remove a domain", parameters=[DOMAIN_PARAM]),
)
class DomainViewSet(OrgViewSet):
    error_codes = {
        "create": {400: ["invalid_domain"], 409: ["domain_taken", "organization_inactive"]},
        "partial_update": {409: ["organization_inactive"]},
        "destroy": {409: ["organization_inactive"]},
        "verify": {403: ["domain_unproven"]},
    }
    serializer_class = DomainSerializer
    pagination_class = None

    def list(self, request, org_id=None):
        org = self.organization()
        self.require_member(org)
        return Response(DomainSerializer(org.domains.all(), many=True).data)

    def create(self, request, org_id=None):
        body = DomainCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = domain_services.domain_add(
            organization=self.organization(),
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(DomainSerializer(row).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, org_id=None, domain=None):
        body = DomainUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = domain_services.domain_update(
            organization=self.organization(),
            domain=domain,
            actor=request.user,
            request=request,
            **body.validated_data,
        )
        return Response(DomainSerializer(row).data)

    def destroy(self, request, org_id=None, domain=None):
        domain_services.domain_remove(
            organization=self.organization(), domain=domain, actor=request.user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Verify a domain",
        description="A platform admin, or an organization admin with a verified email at "
        "the domain (403 `domain_unproven` otherwise).",
        parameters=[DOMAIN_PARAM],
        request=None,
        responses={200: DomainSerializer},
    )
    def verify(self, request, org_id=None, domain=None):
        row = domain_services.domain_verify(
            organization=self.organization(), domain=domain, actor=request.user, request=request
        )
        return Response(DomainSerializer(row).data)


@extend_schema(
    summary="Plans",
    description="The plans tenants subscribe to (admin data). A member's slot and usage "
    "limits are the most generous of their own and their organizations' plans.",
    responses={200: PlanSerializer(many=True)},
)
class PlanList(APIView):
    required_scopes = ORG_SCOPES

    def get(self, request):
        return Response(PlanSerializer(selectors.plans(), many=True).data)


@extend_schema(
    summary="The permission catalogue",
    description="Every organization permission, `resource:action`.",
    responses={200: CatalogueEntrySerializer(many=True)},
)
class PermissionCatalogue(APIView):
    required_scopes = ORG_SCOPES

    def get(self, request):
        return Response([{"key": k, "description": d} for k, d in PERMISSIONS.items()])


class IsPlatformAdmin(HasScope):
    """Platform admins (an API key: its owner must be one, and it needs ``tenants:write``)."""

    def has_permission(self, request, view) -> bool:
        if not is_platform_admin(request.user):
            raise exceptions.PermissionDenied("Platform admins only.")
        return super().has_permission(request, view)


@extend_schema(
    summary="Onboard a tenant",
    description="In one transaction: the organization (slug from the company name), its "
    "verified domain, the plan's features (a subset may be named) and `initial_user_count` "
    "seats (at most the plan's), and `admin_email` as `owner` — an existing account joins "
    "at once, otherwise an invitation is mailed. The same `idempotency_key` with the same "
    "content answers the first answer again (200) and creates nothing; with different "
    "content 409 `idempotency_conflict`. `dry_run: true` validates and returns what would "
    "be created (200), writing and mailing nothing.",
    request=TenantCreateSerializer,
    responses={201: TenantSerializer, 200: TenantSerializer},
)
class TenantOnboard(APIView):
    error_codes = {
        400: [
            "unknown_plan",
            "feature_not_in_plan",
            "exceeds_plan",
            "invalid_domain",
            "invalid_email",
            "invalid_characters",
        ],
        409: ["domain_taken", "idempotency_conflict", "slug_taken"],
    }
    permission_classes = [IsAuthenticated, IsPlatformAdmin]
    required_scopes = ("tenants:write", "tenants:write")

    def post(self, request):
        body = TenantCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        key = data.pop("idempotency_key", None)
        dry_run = data.pop("dry_run", False)
        answer, created = tenant_onboard(
            data=data, actor=request.user, idempotency_key=key, dry_run=dry_run, request=request
        )
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
