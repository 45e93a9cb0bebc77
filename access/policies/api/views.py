"""Security policy API (docs/api.md Part 2, "Security policies (runtime)"): the platform's
(platform admins) and an organization's (``policies:manage``; others' organizations 404).
API keys never change policies."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policies import selectors, services
from access.policies.api.serializers import BODIES, PasswordPolicyResponseSerializer
from access.policies.types import POLICY_TYPES
from config.api.permissions import IsAdminRole, NotApiKey
from orgs.api.base import ORG_PARAM, visible_organization
from orgs.models import Organization
from orgs.permissions import can

TYPE_PARAM = OpenApiParameter(
    "policy_type",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=list(POLICY_TYPES),
    description="The policy: `password` (others are not available yet; an unknown type is 404).",
)
PUT_DESCRIPTION = (
    "Replaces the whole policy (every field required, each within its bounds). "
    "Applies at the next check, with no restart. Audited as `policy.<type>.updated` with "
    "the values before and after."
)


def _policy_type(value: Any) -> str:
    if value not in POLICY_TYPES:
        raise exceptions.NotFound("No such policy type.")
    return value


def _answer(organization: Organization | None, policy_type: str) -> Response:
    row = selectors.stored_policy(organization, policy_type)
    data = {
        **selectors.policy_values(organization, policy_type),
        "policy_type": policy_type,
        "inherited": row is None,
        "updated_at": row.updated_at if row else None,
    }
    return Response(PasswordPolicyResponseSerializer(data).data)


def _values(request, policy_type: str) -> dict:
    body = BODIES[policy_type](data=request.data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


class PlatformPolicyView(APIView):
    permission_classes = [IsAuthenticated, NotApiKey, IsAdminRole]
    error_codes = {"put": {400: services.POLICY_ERROR_CODES}}

    @extend_schema(
        summary="A platform security policy",
        description="Platform admins. The defaults until one is stored (`inherited`).",
        parameters=[TYPE_PARAM],
        responses={200: PasswordPolicyResponseSerializer},
    )
    def get(self, request, policy_type=None):
        return _answer(None, _policy_type(policy_type))

    @extend_schema(
        summary="Set a platform security policy",
        description="Platform admins. " + PUT_DESCRIPTION,
        parameters=[TYPE_PARAM],
        request=BODIES[next(iter(BODIES))],
        responses={200: PasswordPolicyResponseSerializer},
    )
    def put(self, request, policy_type=None):
        policy_type = _policy_type(policy_type)
        services.policy_set(
            organization=None,
            policy_type=policy_type,
            values=_values(request, policy_type),
            actor=request.user,
            request=request,
        )
        return _answer(None, policy_type)


class OrgPolicyView(APIView):
    permission_classes = [IsAuthenticated, NotApiKey]
    error_codes = {"put": {400: services.POLICY_ERROR_CODES}}

    def _organization(self, org_id: Any) -> Organization:
        org = visible_organization(self.request.user, org_id)
        if not can(self.request.user, "policies:manage", org):
            raise exceptions.PermissionDenied("This needs the permission policies:manage.")
        return org

    @extend_schema(
        summary="An organization's security policy",
        description="Needs `policies:manage`. Without a policy of its own, the platform's "
        "(`inherited`).",
        parameters=[ORG_PARAM, TYPE_PARAM],
        responses={200: PasswordPolicyResponseSerializer},
    )
    def get(self, request, org_id=None, policy_type=None):
        org = self._organization(org_id)
        return _answer(org, _policy_type(policy_type))

    @extend_schema(
        summary="Set an organization's security policy",
        description="Needs `policies:manage`. Only tighter than the platform's, field by "
        "field: a looser value is 400 `weaker_than_platform` naming the field. The effective "
        "policy of a member is the strictest of the platform's and of every organization "
        "they belong to. " + PUT_DESCRIPTION,
        parameters=[ORG_PARAM, TYPE_PARAM],
        request=BODIES[next(iter(BODIES))],
        responses={200: PasswordPolicyResponseSerializer},
    )
    def put(self, request, org_id=None, policy_type=None):
        org = self._organization(org_id)
        policy_type = _policy_type(policy_type)
        services.policy_set(
            organization=org,
            policy_type=policy_type,
            values=_values(request, policy_type),
            actor=request.user,
            request=request,
        )
        return _answer(org, policy_type)
