"""Who may do what inside an organization: one function answers, one explains.

``can(user, permission, obj)`` is the only question every door asks (API, pages, admin, and
later the WebSocket and access checks); ``permission_sources`` says why. A member's
permissions are the union of:

- their organization roles (built-in sets from ``orgs.catalogue``, custom roles' stored keys),
  where a built-in role's lead-scoped permissions (``catalogue.LEAD_SCOPED``: a manager's
  ``teams:manage``) count only inside the teams the member leads;
- their direct permissions;
- their team permissions, inside that team's scope only (``obj`` is the team or belongs to it);
- the sources registered with :func:`register_source` — the seam where time-bound access
  grants plug in (the access app registers its provider from its ``AppConfig.ready``). Until
  one is registered no grant exists, so none is counted.

A suspended membership holds nothing; an archived organization gives its members nothing at
once; a suspended organization keeps only ``*:read`` permissions. Platform admins (the
``admin`` platform role) hold every permission in every organization, archived ones included:
they run the platform and answer for its tenants (docs/api.md, "Organizations").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from orgs.catalogue import ALL_PERMISSIONS, LEAD_SCOPED, PERMISSIONS, role_permissions
from orgs.models import Membership, Organization, Role, Team, TeamMembership

Source = dict[str, str]
SourceProvider = Callable[..., Iterable[tuple[str, Source]]]

PLATFORM_SOURCE: Source = {"type": "platform", "id": "admin", "name": "Platform admin"}

_providers: list[SourceProvider] = []


def register_source(provider: SourceProvider) -> None:
    """Add ``provider(user=, organization=, team=) -> [(permission, source), ...]`` to every
    answer (sources of type ``grant`` come from here)."""
    if provider not in _providers:
        _providers.append(provider)


def is_platform_admin(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or "admin" in user.roles)


def scope_of(obj: Any) -> tuple[Organization, Team | None]:
    """The organization (and team) an object lives in."""
    if isinstance(obj, Organization):
        return obj, None
    if isinstance(obj, Team):
        return obj.organization, obj
    if isinstance(obj, TeamMembership):
        return obj.team.organization, obj.team
    organization = getattr(obj, "organization", None)
    if isinstance(organization, Organization):
        return organization, None
    raise TypeError(f"No organization scope for {type(obj).__name__}.")


def active_membership(user: Any, organization: Organization) -> Membership | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return (
        Membership.objects.filter(
            organization=organization, user_id=user.pk, status=Membership.Status.ACTIVE
        )
        .prefetch_related("roles")
        .first()
    )


def _role_source(role: Role) -> Source:
    return {"type": "role", "id": role.key, "name": role.name}


def membership_sources(
    membership: Membership, *, leads_team: bool = False
) -> dict[str, list[Source]]:
    """Role and direct sources of one membership (roles prefetched: no query)."""
    found: dict[str, list[Source]] = {}
    for role in membership.roles.all():
        perms = role_permissions(role.key, role.permissions)
        if not leads_team:
            perms = perms - LEAD_SCOPED.get(role.key, frozenset()) if role.builtin else perms
        for perm in perms:
            found.setdefault(perm, []).append(_role_source(role))
    for perm in membership.permissions or ():
        if perm in ALL_PERMISSIONS:
            found.setdefault(perm, []).append({"type": "direct", "id": perm, "name": "Direct"})
    return found


def membership_permissions(membership: Membership) -> list[str]:
    """The organization-wide permissions of a membership (roles + direct), sorted."""
    if membership.status != Membership.Status.ACTIVE:
        return []
    return sorted(membership_sources(membership))


def permission_sources(
    user: Any, organization: Organization, team: Team | None = None
) -> dict[str, list[Source]]:
    """``{permission: [source, ...]}``: every permission ``user`` holds in ``organization``
    (inside ``team`` when given), with where each comes from."""
    found: dict[str, list[Source]] = {}

    def add(perm: str, source: Source) -> None:
        found.setdefault(perm, []).append(source)

    if is_platform_admin(user):
        for perm in ALL_PERMISSIONS:
            add(perm, dict(PLATFORM_SOURCE))
    if organization.status != Organization.Status.ARCHIVED:
        membership = active_membership(user, organization)
        if membership is not None:
            team_row = None
            if team is not None:
                team_row = TeamMembership.objects.filter(team=team, user_id=user.pk).first()
            leads = team_row is not None and team_row.role == TeamMembership.Role.LEAD
            for perm, sources in membership_sources(membership, leads_team=leads).items():
                for source in sources:
                    add(perm, source)
            if team_row is not None:
                for perm in team_row.permissions or ():
                    if perm in ALL_PERMISSIONS:
                        add(perm, {"type": "team", "id": str(team.pk), "name": team.name})
            for provider in _providers:
                for perm, source in provider(user=user, organization=organization, team=team):
                    if perm in ALL_PERMISSIONS:
                        add(perm, source)
    if organization.status == Organization.Status.SUSPENDED and not is_platform_admin(user):
        found = {p: s for p, s in found.items() if p.endswith(":read")}
    return found


def effective_permissions(
    user: Any, organization: Organization, team: Team | None = None
) -> frozenset[str]:
    return frozenset(permission_sources(user, organization, team))


def can(user: Any, permission: str, obj: Any) -> bool:
    """Whether ``user`` may use ``permission`` on ``obj`` (an organization, a team, or an
    object of one)."""
    if permission not in ALL_PERMISSIONS:
        raise ValueError(f"{permission!r} is not in the permission catalogue.")
    organization, team = scope_of(obj)
    return permission in effective_permissions(user, organization, team)


def explain(user: Any, organization: Organization) -> list[dict[str, Any]]:
    """``[{permission, sources}]`` in catalogue order: the API's explanation. Team-scoped
    sources (team permissions, a manager's powers over the teams they lead) name the team in
    ``team``: they hold inside that team only."""
    sources = permission_sources(user, organization)
    membership = None
    if organization.status != Organization.Status.ARCHIVED:
        membership = active_membership(user, organization)
    if membership is not None:
        rows = TeamMembership.objects.filter(
            user_id=user.pk, team__organization=organization
        ).select_related("team")
        for row in rows:
            scoped: list[tuple[str, Source]] = []
            if row.role == TeamMembership.Role.LEAD:
                for role in membership.roles.all():
                    if role.builtin:
                        for perm in LEAD_SCOPED.get(role.key, frozenset()):
                            scoped.append((perm, {**_role_source(role), "team": str(row.team_id)}))
            for perm in row.permissions or ():
                if perm in ALL_PERMISSIONS:
                    scoped.append(
                        (perm, {"type": "team", "id": str(row.team_id), "name": row.team.name})
                    )
            for perm, source in scoped:
                if organization.status == Organization.Status.SUSPENDED and not perm.endswith(
                    ":read"
                ):
                    continue
                sources.setdefault(perm, []).append(source)
    order = {key: i for i, key in enumerate(PERMISSIONS)}
    return [
        {"permission": perm, "sources": sources[perm]}
        for perm in sorted(sources, key=lambda p: order[p])
    ]
