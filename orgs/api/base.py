"""What every organization view shares: the scopes, how an organization or team in the path
is found (404 unless the caller may see it), and the permission check (403)."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, viewsets

from orgs import selectors
from orgs.models import Organization, Team
from orgs.permissions import active_membership, can, is_platform_admin

ORG_SCOPES = ("orgs:read", "orgs:write")
UUID_RE = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

ORG_PARAM = OpenApiParameter(
    "org_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The organization's id."
)
TEAM_PARAM = OpenApiParameter(
    "team_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The team's id."
)
USER_PARAM = OpenApiParameter(
    "user_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The member's user id."
)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise exceptions.NotFound() from None


def visible_organization(user: Any, org_id: Any) -> Organization:
    org = selectors.organizations_visible_to(user).filter(pk=_uuid(org_id)).first()
    if org is None:
        raise exceptions.NotFound()
    return org


def visible_team(user: Any, team_id: Any) -> Team:
    team = Team.objects.select_related("organization").filter(pk=_uuid(team_id)).first()
    if team is None:
        raise exceptions.NotFound()
    # The team is visible when its organization is.
    visible_organization(user, team.organization_id)
    return team


class OrgViewSet(viewsets.GenericViewSet):
    """Base of the organization viewsets: scopes, and the permission check."""

    required_scopes = ORG_SCOPES
    filter_backends: list = []

    def require(self, permission: str, obj: Organization | Team) -> None:
        if not can(self.request.user, permission, obj):
            raise exceptions.PermissionDenied(f"This needs the permission {permission}.")

    def require_member(self, org: Organization) -> None:
        """Reading an organization's objects: its active members and platform admins."""
        user = self.request.user
        if not is_platform_admin(user) and active_membership(user, org) is None:
            raise exceptions.PermissionDenied("Only the organization's active members.")

    def organization(self) -> Organization:
        if not hasattr(self, "_organization"):
            self._organization = visible_organization(self.request.user, self.kwargs["org_id"])
        return self._organization

    def team(self) -> Team:
        if not hasattr(self, "_team"):
            self._team = visible_team(self.request.user, self.kwargs["team_id"])
        return self._team
