"""Security policy API (docs/api.md Part 2, "Security policies (runtime)"): the platform's
(platform admins) and an organization's (``policies:manage``; others' organizations 404).
API keys never change policies. One view class per policy type and scope (each with its
own body in the schema), made by ``platform_view`` / ``org_view``; an unknown type is 404."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policies import selectors, services
from access.policies.api.serializers import ANSWERS, BODIES
from access.policies.types import LOCKOUT, MFA, PASSWORD, SESSION
from config.api.permissions import IsAdminRole, NotApiKey
from orgs.api.base import ORG_PARAM, visible_organization
from orgs.models import Organization
from orgs.permissions import can

ABOUT = {
    PASSWORD: "The rules of every new password (register, change, reset, admin, bulk, "
    "import): codes `password_too_short`, `password_requires_uppercase`, "
    "`password_requires_lowercase`, `password_requires_number`, `password_requires_special`, "
    "`password_reused` (one of the last `history` passwords, the current one included). "
    "`expiry_days` (0: never): a password older than that is replaced at the next sign-in "
    "(pages: a form right after the password; API: `POST /auth/token` answers "
    "`password_change_required`). Its age counts from when it was set; for a password set "
    "before Roster recorded that, from the later of the account's creation and the last "
    "change of an expiring policy that applies. `min_length` above the longest password "
    "accepted is 400 `contradictory_values`.",
    MFA: "Who must have a second factor (recovery codes alone do not count), and the days "
    "of grace. "
    "Past the grace period, a user without one is sent to set one up after signing in on "
    "the pages, and `POST /auth/token` and `/auth/token/refresh` answer 403 "
    "`mfa_setup_required`. The grace counts from the later of the account's creation, the "
    "membership's start (an organization's policy) and the policy's last change. Each "
    "applicable policy is read on its own: the platform's `admins` are its admins, an "
    "organization's `admins` its owners and admins.",
    SESSION: "Lifetimes: of an access token, of an unused API session, of any API session "
    "from its sign-in, and of a web session from its sign-in. Applied when tokens are minted "
    "or refreshed and when a web session is used (a web session past it is signed out). "
    "`refresh_idle_days` above `refresh_absolute_days` is 400 `contradictory_values`.",
    LOCKOUT: "Failed sign-ins allowed per account (at every sign-in door) before it is "
    "refused with 429 for the rest of the window; the per-IP limit stays a setting.",
}
PUT_NOTE = (
    " Replaces the whole policy (every field required, each within its bounds). Applies at "
    "the next check, with no restart. Audited as `policy.<type>.updated` with the values "
    "before and after."
)


def _answer(organization: Organization | None, policy_type: str) -> Response:
    row = selectors.stored_policy(organization, policy_type)
    data = {
        **selectors.policy_values(organization, policy_type),
        "policy_type": policy_type,
        "inherited": row is None,
        "updated_at": row.updated_at if row else None,
    }
    return Response(ANSWERS[policy_type](data).data)


def _put(request, organization: Organization | None, policy_type: str) -> Response:
    body = BODIES[policy_type](data=request.data)
    body.is_valid(raise_exception=True)
    services.policy_set(
        organization=organization,
        policy_type=policy_type,
        values=dict(body.validated_data),
        actor=request.user,
        request=request,
    )
    return _answer(organization, policy_type)


def platform_view(policy_type: str) -> type[APIView]:
    class PlatformPolicyView(APIView):
        permission_classes = [IsAuthenticated, NotApiKey, IsAdminRole]
        error_codes = {"put": {400: [services.CONTRADICTORY]}}

        @extend_schema(
            summary=f"The platform's {policy_type} policy",
            description="Platform admins. The defaults until one is stored (`inherited`). "
            + ABOUT[policy_type],
            responses={200: ANSWERS[policy_type]},
        )
        def get(self, request):
            return _answer(None, policy_type)

        @extend_schema(
            summary=f"Set the platform's {policy_type} policy",
            description="Platform admins. " + ABOUT[policy_type] + PUT_NOTE,
            request=BODIES[policy_type],
            responses={200: ANSWERS[policy_type]},
        )
        def put(self, request):
            return _put(request, None, policy_type)

    PlatformPolicyView.__name__ = f"Platform{policy_type.title()}PolicyView"
    return PlatformPolicyView


def org_view(policy_type: str) -> type[APIView]:
    class OrgPolicyView(APIView):
        permission_classes = [IsAuthenticated, NotApiKey]
        error_codes = {"put": {400: services.POLICY_ERROR_CODES}}

        def _organization(self, org_id: Any) -> Organization:
            org = visible_organization(self.request.user, org_id)
            if not can(self.request.user, "policies:manage", org):
                raise exceptions.PermissionDenied("This needs the permission policies:manage.")
            return org

        @extend_schema(
            summary=f"An organization's {policy_type} policy",
            description="Needs `policies:manage`. Without a policy of its own, the "
            "platform's (`inherited`). " + ABOUT[policy_type],
            parameters=[ORG_PARAM],
            responses={200: ANSWERS[policy_type]},
        )
        def get(self, request, org_id=None):
            return _answer(self._organization(org_id), policy_type)

        @extend_schema(
            summary=f"Set an organization's {policy_type} policy",
            description="Needs `policies:manage`. Only tighter than the platform's, field "
            "by field: a looser value is 400 `weaker_than_platform` naming the field. A "
            "member's effective policy is the strictest of the platform's and of every "
            "organization they belong to. " + ABOUT[policy_type] + PUT_NOTE,
            parameters=[ORG_PARAM],
            request=BODIES[policy_type],
            responses={200: ANSWERS[policy_type]},
        )
        def put(self, request, org_id=None):
            return _put(request, self._organization(org_id), policy_type)

    OrgPolicyView.__name__ = f"Org{policy_type.title()}PolicyView"
    return OrgPolicyView


@extend_schema(exclude=True)
class UnknownPolicyView(APIView):
    """Any other policy type: 404 (after the same authentication)."""

    permission_classes = [IsAuthenticated, NotApiKey]

    def get(self, request, **kwargs):
        raise exceptions.NotFound("No such policy type.")

    put = get
