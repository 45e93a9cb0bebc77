"""What the notifications WebSocket (notifications.ws) asks about organizations, answered
with ``orgs.permissions.can``; registered from ``OrgsConfig.ready()``.

- who may subscribe to ``team:<id>`` (its members, and whoever may manage the team) and
  ``org:<id>`` (its active members);
- whose presence counts in a heartbeat's ``online_users`` (the members of the caller's
  organizations): the organizations of many users and the members of many organizations,
  each in one query, so that a heartbeat tick counts once per organization;
- to which teams a caller may broadcast ``activity``: those they belong to and hold
  ``notifications:send`` in, the right of the HTTP send. (Whom a ``notification`` message
  may reach is the HTTP send's own rule, ``notifications.audience``.)
"""

from __future__ import annotations

from typing import Any

from orgs.models import Membership, Organization, Team, TeamMembership
from orgs.permissions import can

SEND = "notifications:send"


def may_subscribe(user: Any, kind: str, object_id: str) -> bool:
    if kind == "org":
        organization = Organization.objects.filter(pk=object_id).first()
        return organization is not None and can(user, "members:read", organization)
    team = Team.objects.select_related("organization").filter(pk=object_id).first()
    if team is None or not can(user, "members:read", team):
        return False
    is_member = TeamMembership.objects.filter(team=team, user_id=user.pk).exists()
    return is_member or can(user, "teams:manage", team)


def _active_memberships():
    return Membership.objects.filter(status=Membership.Status.ACTIVE)


def organizations_of(user_ids: list[str]) -> dict[str, set[str]]:
    """The organizations each of ``user_ids`` is an active member of (one query)."""
    found: dict[str, set[str]] = {str(pk): set() for pk in user_ids}
    rows = _active_memberships().filter(user_id__in=user_ids)
    for user_id, organization_id in rows.values_list("user_id", "organization_id"):
        found[str(user_id)].add(str(organization_id))
    return found


def members_of(organization_ids: list[str]) -> dict[str, set[str]]:
    """The active members of each of ``organization_ids`` (one query)."""
    found: dict[str, set[str]] = {str(pk): set() for pk in organization_ids}
    rows = _active_memberships().filter(organization_id__in=organization_ids)
    for organization_id, user_id in rows.values_list("organization_id", "user_id"):
        found[str(organization_id)].add(str(user_id))
    return found


def activity_teams(user: Any) -> list[str]:
    """The teams ``user`` belongs to and may send notifications in."""
    rows = TeamMembership.objects.filter(user_id=user.pk).select_related("team__organization")
    return [str(row.team_id) for row in rows if can(user, SEND, row.team)]
