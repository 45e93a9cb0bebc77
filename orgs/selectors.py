"""Read side of organizations: what a caller may see, loaded in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from allauth.account.models import EmailAddress
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from orgs.api.serializers.organizations import OrganizationSerializer
from orgs.models import (
    Invitation,
    Membership,
    Organization,
    Plan,
    Role,
    Team,
    TeamMembership,
)
from orgs.permissions import is_platform_admin


def organizations_visible_to(user: Any) -> QuerySet[Organization]:
    """Platform admins: all, archived included. Others: the organizations they belong to
    (suspended members too: they may still see it and leave), never archived ones."""
    qs = with_seats(Organization.objects.select_related("plan").prefetch_related("domains"))
    if is_platform_admin(user):
        return qs
    mine = Membership.objects.filter(user_id=user.pk).values("organization_id")
    return qs.filter(pk__in=mine).exclude(status=Organization.Status.ARCHIVED)


def _count(qs: QuerySet) -> Coalesce:
    counted = qs.order_by().values("organization_id").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def with_seats(qs: QuerySet[Organization]) -> QuerySet[Organization]:
    """Annotates ``member_total`` and ``pending_total`` (unexpired pending invitations): the
    seats used, as ``orgs.services.rules.seats_used`` counts them."""
    return qs.annotate(
        member_total=_count(Membership.objects.filter(organization_id=OuterRef("pk"))),
        pending_total=_count(
            Invitation.objects.filter(
                organization_id=OuterRef("pk"),
                status=Invitation.Status.PENDING,
                expires_at__gt=timezone.now(),
            )
        ),
    )


def organization_as_dict(org: Organization) -> dict[str, Any]:
    if not hasattr(org, "member_total"):
        org = with_seats(Organization.objects.filter(pk=org.pk)).select_related("plan").get()
    return dict(OrganizationSerializer(org).data)


def members_of(
    organization: Organization,
    *,
    role: str | None = None,
    team: Any = None,
    q: str | None = None,
) -> QuerySet[Membership]:
    """Members with their user, roles and teams in this organization: four queries for any
    number of rows (the page, roles, team memberships with their teams). The filters are
    EXISTS subqueries, not joins, so a member appears once and no DISTINCT is needed (a
    DISTINCT over the user's columns cost more than the rest of a 2,000-member page)."""
    qs = Membership.objects.filter(organization=organization)
    if role:
        qs = qs.filter(
            Exists(
                Membership.roles.through.objects.filter(
                    membership_id=OuterRef("pk"), role__key=role
                ).filter(Q(role__organization__isnull=True) | Q(role__organization=organization))
            )
        )
    if team:
        qs = qs.filter(
            Exists(
                TeamMembership.objects.filter(
                    user_id=OuterRef("user_id"), team_id=team, team__organization=organization
                )
            )
        )
    if q:
        qs = qs.filter(
            Q(user__email__icontains=q)
            | Q(user__display_name__icontains=q)
            | Q(user__first_name__icontains=q)
            | Q(user__last_name__icontains=q)
        )
    return (
        qs.select_related("user")
        .prefetch_related(
            "roles",
            Prefetch(
                "user__team_memberships",
                queryset=TeamMembership.objects.filter(team__organization=organization)
                .select_related("team")
                .order_by("team__name"),
                to_attr="org_team_rows",
            ),
        )
        .order_by("joined_at", "id")
    )


def roles_of(organization: Organization) -> QuerySet[Role]:
    """Built-in roles first, then the organization's custom roles."""
    return Role.objects.filter(
        Q(organization__isnull=True) | Q(organization=organization)
    ).order_by("-builtin", "key")


def teams_of(organization: Organization) -> QuerySet[Team]:
    return (
        Team.objects.filter(organization=organization)
        .annotate(member_count=Count("team_memberships", distinct=True))
        .prefetch_related(
            Prefetch(
                "team_memberships",
                queryset=TeamMembership.objects.filter(role=TeamMembership.Role.LEAD)
                .select_related("user")
                .order_by("joined_at"),
                to_attr="lead_rows",
            )
        )
    )


def team_members(team: Team) -> QuerySet[TeamMembership]:
    return TeamMembership.objects.filter(team=team).select_related("user").order_by("joined_at")


def invitations_of(organization: Organization) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(organization=organization)
        .select_related("organization", "invited_by")
        .prefetch_related("roles", "teams")
    )


def pending_invitations_for(user: Any) -> QuerySet[Invitation]:
    """Pending, unexpired invitations to one of the user's verified emails."""
    emails = [
        e.lower()
        for e in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    ]
    if not emails:
        return Invitation.objects.none()
    q = Q()
    for email in emails:
        q |= Q(email__iexact=email)
    return (
        Invitation.objects.filter(q, status="pending", expires_at__gt=timezone.now())
        .exclude(organization__status=Organization.Status.ARCHIVED)
        .select_related("organization", "invited_by")
        .prefetch_related("roles", "teams")
    )


def plans() -> QuerySet[Plan]:
    return Plan.objects.filter(is_active=True)


@dataclass(frozen=True)
class PlanLimits:
    """The most generous per-member limits among the plans of a user's organizations:
    ``slots`` live slots per slot type key, ``usage`` per meter key per window. A key that no
    plan names is absent (the plans add nothing to the user's own limit there)."""

    slots: dict[str, int] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)


def _merge_most_generous(into: dict[str, int], limits: Any) -> None:
    # Plans are admin data (a JSON field): anything but a non-negative whole number is ignored
    # rather than trusted, so a typo in the admin can neither raise nor grant without bound.
    if not isinstance(limits, dict):
        return
    for key, value in limits.items():
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            into[str(key)] = max(value, into.get(str(key), value))


def plan_limits_for(user: Any) -> PlanLimits:
    """The one source of the limits a user's organizations give them, read by the slot quota
    (``slots.services``) and the usage quota (``usage.selectors``), each of which takes the
    most generous of this and the user's own limit. Only active memberships of active
    organizations count: a suspended member, or a suspended or archived organization, gives
    nothing. One query."""
    result = PlanLimits()
    if getattr(user, "pk", None) is None:
        return result
    rows = (
        Plan.objects.filter(
            organizations__status=Organization.Status.ACTIVE,
            organizations__memberships__user_id=user.pk,
            organizations__memberships__status=Membership.Status.ACTIVE,
        )
        .order_by()
        .values_list("slot_limits", "usage_limits")
    )
    for slot_limits, usage_limits in rows:
        _merge_most_generous(result.slots, slot_limits)
        _merge_most_generous(result.usage, usage_limits)
    return result


def memberships_export_for_user(*, user: Any) -> list[dict[str, Any]]:
    """The person's organizations for the account export."""
    rows = (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .prefetch_related("roles")
    )
    return [
        {
            "organization": {"id": str(m.organization_id), "slug": m.organization.slug},
            "roles": sorted(r.key for r in m.roles.all()),
            "permissions": sorted(m.permissions or []),
            "status": m.status,
            "joined_at": m.joined_at.isoformat().replace("+00:00", "Z"),
        }
        for m in rows
    ]
