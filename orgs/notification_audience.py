"""Who may send a notification to whom (``POST /api/v1/notifications/send`` and the
WebSocket): the organizations' rule, registered with ``notifications.audience``, which sits
below orgs in the layers and cannot ask ``can`` itself.

- a platform admin reaches any active user;
- ``notifications:send`` on an organization (its admins and owners) reaches its active
  members; on a team (a manager who leads it, or a team permission) the team's members who
  are active members of the organization.

A target the sender cannot see (a user who shares no organization with them, a team of an
organization they do not belong to) is 404, as everywhere; one they see but may not reach is
403.

``send_choices`` lists, for the "Send a notification" page, what ``send_audience`` lets the
actor reach in the organizations they belong to (a platform admin's "anyone" stays with the
API: the page does not list every account).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts.models import User
from config.errors import Forbidden, NotFound
from notifications.audience import Audience, Choices
from orgs import selectors
from orgs.models import Membership, Team
from orgs.permissions import can, is_platform_admin

PERMISSION = "notifications:send"


def _active_users():
    return User.objects.filter(is_active=True, status=User.Status.ACTIVE)


def _denied() -> Forbidden:
    return Forbidden("permission_denied", f"This needs the permission {PERMISSION}.")


def _team_audience(actor: Any, team_id: Any) -> Audience:
    team = (
        Team.objects.select_related("organization")
        .filter(pk=team_id, organization__in=selectors.organizations_visible_to(actor))
        .first()
    )
    if team is None:
        raise NotFound("not_found", "No such team.")
    if not can(actor, PERMISSION, team):
        raise _denied()
    recipients = (
        _active_users()
        .filter(
            team_memberships__team=team,
            org_memberships__organization_id=team.organization_id,
            org_memberships__status=Membership.Status.ACTIVE,
        )
        .exclude(pk=actor.pk)
        .distinct()
        .order_by("pk")
    )
    return Audience(recipients=list(recipients), target=team)


def _user_audience(actor: Any, user_id: Any) -> Audience:
    user = _active_users().filter(pk=user_id).first()
    if user is None:
        raise NotFound("not_found", "No such user.")
    if is_platform_admin(actor):
        return Audience(recipients=[user], target=user)
    shared = selectors.organizations_visible_to(actor).filter(
        memberships__user=user, memberships__status=Membership.Status.ACTIVE
    )
    organizations = list(shared.distinct())
    if not organizations:
        raise NotFound("not_found", "No such user.")
    if any(can(actor, PERMISSION, org) for org in organizations):
        return Audience(recipients=[user], target=user)
    teams = Team.objects.select_related("organization").filter(
        organization__in=organizations, team_memberships__user=user
    )
    if any(can(actor, PERMISSION, team) for team in teams):
        return Audience(recipients=[user], target=user)
    raise _denied()


def send_audience(*, actor: Any, target_user_id: Any = None, team_id: Any = None) -> Audience:
    if team_id is not None:
        return _team_audience(actor, team_id)
    return _user_audience(actor, target_user_id)


def _label(user: Any) -> str:
    name = user.get_full_name()
    return f"{name} <{user.email}>" if name else user.email


def send_choices(*, actor: Any) -> Choices:
    """The teams and the people ``actor`` may send to, by the rule of ``send_audience``."""
    mine = Membership.objects.filter(user_id=actor.pk, status=Membership.Status.ACTIVE)
    organizations = selectors.organizations_visible_to(actor).filter(
        pk__in=mine.values("organization_id")
    )
    teams: list[Team] = []
    whole: list[Any] = []
    for org in organizations.order_by("name", "pk"):
        org_teams = list(
            Team.objects.filter(organization=org)
            .select_related("organization")
            .order_by("name", "pk")
        )
        if can(actor, PERMISSION, org):
            whole.append(org.pk)
            teams += org_teams
        else:
            teams += [team for team in org_teams if can(actor, PERMISSION, team)]
    in_whole = _active_users().filter(
        org_memberships__organization_id__in=whole,
        org_memberships__status=Membership.Status.ACTIVE,
    )
    in_teams = _active_users().filter(
        team_memberships__team__in=[t for t in teams if t.organization_id not in whole],
        org_memberships__organization_id=models.F("team_memberships__team__organization_id"),
        org_memberships__status=Membership.Status.ACTIVE,
    )
    people = (
        User.objects.filter(pk__in=in_whole.values("pk"))
        | User.objects.filter(pk__in=in_teams.values("pk"))
    ).exclude(pk=actor.pk)
    several = len({t.organization_id for t in teams}) > 1
    return Choices(
        teams=[
            (str(t.pk), f"{t.name} ({t.organization.name})" if several else t.name) for t in teams
        ],
        users=sorted(((str(u.pk), _label(u)) for u in people), key=lambda c: c[1].lower()),
    )
