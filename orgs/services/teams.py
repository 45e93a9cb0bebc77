"""Teams and their members: set up by ``teams:create``, run by ``teams:manage`` on the team
(organization-wide for admins, the teams they lead for managers, or a team permission)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record
from config.errors import Conflict, Invalid, NotFound
from orgs import notices
from orgs.catalogue import TEAM_PERMISSIONS
from orgs.models import Membership, Organization, Team, TeamMembership
from orgs.services.rules import (
    clean_email,
    clean_permission_keys,
    clean_text,
    ensure_may_grant,
    ensure_writable,
    lock_organization,
    require,
    save_changes,
)

_UNSET: Any = object()
GOALS_MAX = 20
INITIAL_MEMBERS_MAX = 200


def _name_taken() -> Conflict:
    return Conflict("name_taken", "The organization has a team with this name.", attr="name")


def _clean_goals(goals: Any) -> list[str]:
    if not isinstance(goals, list):
        raise Invalid("invalid", "Expected a list of strings.", attr="goals")
    if len(goals) > GOALS_MAX:
        raise Invalid("max_length", f"At most {GOALS_MAX} goals.", attr="goals")
    return [
        clean_text(g, attr=f"goals.{i}", max_length=200, required=True) for i, g in enumerate(goals)
    ]


def _resolve_members(organization: Organization, refs: list[Any]) -> list[Any]:
    """Users for ``initial_members`` (emails or ids); each must be a member (400 by index)."""
    User = get_user_model()
    users = []
    for i, ref in enumerate(refs):
        attr = f"initial_members.{i}"
        if isinstance(ref, str) and "@" in ref:
            user = User.objects.filter(email__iexact=clean_email(ref, attr=attr)).first()
        else:
            try:
                user = User.objects.filter(pk=uuid.UUID(str(ref))).first()
            except ValueError:
                raise Invalid("invalid", "An email address or a user id.", attr=attr) from None
        if (
            user is None
            or not Membership.objects.filter(organization=organization, user=user).exists()
        ):
            raise Invalid("not_a_member", "Not a member of the organization.", attr=attr)
        users.append(user)
    return list({u.pk: u for u in users}.values())


def team_create(
    *,
    organization: Organization,
    actor: Any,
    name: str,
    description: str = "",
    team_type: str = "",
    goals: list[str] | None = None,
    initial_members: list[Any] | None = None,
    request=None,
) -> Team:
    """Team setup; the creator leads the new team."""
    require(actor, "teams:create", organization)
    name = clean_text(name, attr="name", max_length=100, required=True)
    description = clean_text(description or "", attr="description", max_length=2000)
    team_type = clean_text(team_type or "", attr="team_type", max_length=50)
    goals = _clean_goals(goals if goals is not None else [])
    refs = initial_members or []
    if len(refs) > INITIAL_MEMBERS_MAX:
        raise Invalid(
            "max_length", f"At most {INITIAL_MEMBERS_MAX} members.", attr="initial_members"
        )
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        members = _resolve_members(locked, refs)
        if Team.objects.filter(organization=locked, name__iexact=name).exists():
            raise _name_taken()
        now = timezone.now()
        try:
            with transaction.atomic():
                team = Team.objects.create(
                    organization=locked,
                    name=name,
                    description=description,
                    team_type=team_type,
                    goals=goals,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError as exc:
            raise _name_taken() from exc
        rows = _seed_members(team, lead=actor, members=members)
        record(
            action="org.team.created",
            actor=actor,
            target=team,
            request=request,
            changes={"name": [None, name]},
            metadata={
                "organization": str(locked.pk),
                "members": [str(r.user_id) for r in rows],
            },
        )
        for row in rows:
            notices.team_membership_changed(
                team=team, user=row.user, actor=actor, change="added", role=row.role
            )
    return team


def _seed_members(team: Team, *, lead: Any, members: list[Any]) -> list[TeamMembership]:
    """The creator leads; the initial members join as members."""
    rows = []
    if lead is not None:
        rows.append(TeamMembership(team=team, user=lead, role=TeamMembership.Role.LEAD))
    rows += [
        TeamMembership(team=team, user=u, role=TeamMembership.Role.MEMBER)
        for u in members
        if lead is None or u.pk != lead.pk
    ]
    return TeamMembership.objects.bulk_create(rows)


def team_update(
    *,
    team: Team,
    actor: Any,
    name: str = _UNSET,
    description: str = _UNSET,
    team_type: str = _UNSET,
    goals: list[str] = _UNSET,
    request=None,
) -> Team:
    require(actor, "teams:manage", team)
    clean: dict[str, Any] = {}
    if name is not _UNSET:
        clean["name"] = clean_text(name, attr="name", max_length=100, required=True)
    if description is not _UNSET:
        clean["description"] = clean_text(description, attr="description", max_length=2000)
    if team_type is not _UNSET:
        clean["team_type"] = clean_text(team_type, attr="team_type", max_length=50)
    if goals is not _UNSET:
        clean["goals"] = _clean_goals(goals)
    with transaction.atomic():
        locked_org = lock_organization(team.organization)
        ensure_writable(locked_org)
        locked = Team.objects.select_for_update().get(pk=team.pk)
        changes = {f: [getattr(locked, f), v] for f, v in clean.items() if getattr(locked, f) != v}
        if "name" in changes:
            clash = Team.objects.filter(organization=locked_org, name__iexact=clean["name"])
            if clash.exclude(pk=locked.pk).exists():
                raise _name_taken()
        if changes:
            save_changes(locked, changes, taken=_name_taken)
            record(
                action="org.team.updated",
                actor=actor,
                target=locked,
                request=request,
                changes=changes,
                metadata={"organization": str(locked_org.pk)},
            )
    return locked


def team_delete(*, team: Team, actor: Any, request=None) -> None:
    require(actor, "teams:manage", team)
    with transaction.atomic():
        locked_org = lock_organization(team.organization)
        ensure_writable(locked_org)
        name, pk = team.name, team.pk
        team.delete()
        record(
            action="org.team.deleted",
            actor=actor,
            target=("team", pk),
            request=request,
            changes={"name": [name, None]},
            metadata={"organization": str(locked_org.pk)},
        )


def _clean_team_permissions(permissions: Any) -> list[str]:
    perms = clean_permission_keys(permissions, attr="permissions")
    outside = [p for p in perms if p not in TEAM_PERMISSIONS]
    if outside:
        raise Invalid(
            "not_a_team_permission",
            f"Not a team permission: {', '.join(outside)}.",
            attr="permissions",
        )
    return perms


def ensure_not_last_lead(row: TeamMembership) -> None:
    """A team's last lead cannot go (or stop leading) while other members remain."""
    if row.role != TeamMembership.Role.LEAD:
        return
    others = TeamMembership.objects.filter(team_id=row.team_id).exclude(pk=row.pk)
    if others.exists() and not others.filter(role=TeamMembership.Role.LEAD).exists():
        raise Conflict("last_lead", "The team's last lead cannot leave while others remain.")


def team_member_add(
    *,
    team: Team,
    actor: Any,
    user: Any = None,
    user_email: str | None = None,
    role: str = TeamMembership.Role.MEMBER,
    title: str = "",
    permissions: list[str] = (),
    request=None,
) -> TeamMembership:
    require(actor, "teams:manage", team)
    if role not in TeamMembership.Role.values:
        raise Invalid("invalid_choice", "Role is lead or member.", attr="role")
    title = clean_text(title or "", attr="title", max_length=100)
    perms = _clean_team_permissions(list(permissions))
    ensure_may_grant(actor, team.organization, permissions=perms, team=team)
    User = get_user_model()
    if user is None:
        user = User.objects.filter(email__iexact=clean_email(user_email, attr="user_email")).first()
        if user is None:
            raise Invalid(
                "not_a_member", "Only organization members can join a team.", "user_email"
            )
    with transaction.atomic():
        locked_org = lock_organization(team.organization)
        ensure_writable(locked_org)
        if not Membership.objects.filter(organization=locked_org, user=user).exists():
            raise Invalid("not_a_member", "Only organization members can join a team.", "user")
        try:
            with transaction.atomic():
                row = TeamMembership.objects.create(
                    team=team, user=user, role=role, title=title, permissions=perms
                )
        except IntegrityError as exc:
            raise Conflict("already_member", "This person is already in the team.") from exc
        record(
            action="org.team.member.added",
            actor=actor,
            target=user,
            request=request,
            changes={"role": [None, role], "permissions": [None, perms]},
            metadata={"organization": str(locked_org.pk), "team": str(team.pk)},
        )
        notices.team_membership_changed(
            team=team, user=user, actor=actor, change="added", role=role
        )
    return row


def _lock_row(team: Team, user_id: Any) -> TeamMembership:
    row = TeamMembership.objects.select_for_update().filter(team=team, user_id=user_id).first()
    if row is None:
        raise NotFound()
    return row


def team_member_update(
    *,
    team: Team,
    user_id: Any,
    actor: Any,
    role: str = _UNSET,
    title: str = _UNSET,
    permissions: list[str] = _UNSET,
    request=None,
) -> TeamMembership:
    require(actor, "teams:manage", team)
    clean: dict[str, Any] = {}
    if role is not _UNSET:
        if role not in TeamMembership.Role.values:
            raise Invalid("invalid_choice", "Role is lead or member.", attr="role")
        clean["role"] = role
    if title is not _UNSET:
        clean["title"] = clean_text(title, attr="title", max_length=100)
    if permissions is not _UNSET:
        clean["permissions"] = _clean_team_permissions(permissions)
    with transaction.atomic():
        locked_org = lock_organization(team.organization)
        ensure_writable(locked_org)
        row = _lock_row(team, user_id)
        changes = {f: [getattr(row, f), v] for f, v in clean.items() if getattr(row, f) != v}
        if "permissions" in changes:
            added = set(changes["permissions"][1]) - set(changes["permissions"][0] or [])
            ensure_may_grant(actor, locked_org, permissions=added, team=team)
        if changes.get("role", [None, None])[1] == TeamMembership.Role.MEMBER:
            ensure_not_last_lead(row)
        if changes:
            for field, (_before, after) in changes.items():
                setattr(row, field, after)
            row.save(update_fields=list(changes))
            record(
                action="org.team.member.updated",
                actor=actor,
                target=("user", row.user_id),
                request=request,
                changes=changes,
                metadata={"organization": str(locked_org.pk), "team": str(team.pk)},
            )
            notices.team_membership_changed(
                team=team, user=row.user, actor=actor, change="updated", role=row.role
            )
    return row


def team_member_remove(*, team: Team, user_id: Any, actor: Any, request=None) -> None:
    """``teams:manage``, or the member leaving the team themself."""
    if actor is None or str(actor.pk) != str(user_id):
        require(actor, "teams:manage", team)
    with transaction.atomic():
        locked_org = lock_organization(team.organization)
        row = _lock_row(team, user_id)
        ensure_not_last_lead(row)
        row.delete()
        record(
            action="org.team.member.removed",
            actor=actor,
            target=("user", user_id),
            request=request,
            changes={"role": [row.role, None]},
            metadata={"organization": str(locked_org.pk), "team": str(team.pk)},
        )
        notices.team_membership_changed(
            team=team, user=row.user, actor=actor, change="removed", role=row.role
        )
