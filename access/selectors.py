"""Read side of access: what a caller may see, the check other services ask, and active
grants as a permission source. Every read of a grant compares ``expires_at`` with now."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from access.models import ORG_ROLE_PREFIX, AccessRequest, Grant, Review
from orgs.catalogue import role_permissions
from orgs.models import Membership, Organization, Role
from orgs.permissions import Source, active_membership, can


def active_grants() -> QuerySet[Grant]:
    return Grant.objects.filter(status=Grant.Status.ACTIVE, expires_at__gt=timezone.now())


def requests_with_details(qs: QuerySet[AccessRequest]) -> QuerySet[AccessRequest]:
    """Everything a request's answer shows, in a fixed number of queries."""
    return qs.select_related("requester", "organization").prefetch_related(
        "approvers",
        Prefetch("reviews", queryset=Review.objects.select_related("reviewer")),
        Prefetch("grant", queryset=Grant.objects.all()),
    )


def requests_for(
    user: Any,
    *,
    as_: str | None = None,
    status: str | None = None,
    organization: Any = None,
    resource: str | None = None,
) -> QuerySet[AccessRequest]:
    """The caller's own requests (``as_="requester"``), those they review or reviewed
    (``"approver"``), or both."""
    mine = Q(requester_id=user.pk)
    reviewing = Q(
        pk__in=AccessRequest.approvers.through.objects.filter(user_id=user.pk).values(
            "accessrequest_id"
        )
    ) | Q(pk__in=Review.objects.filter(reviewer_id=user.pk).values("request_id"))
    where = {"requester": mine, "approver": reviewing}.get(as_ or "", mine | reviewing)
    qs = AccessRequest.objects.filter(where)
    if status:
        qs = qs.filter(status=status)
    if organization:
        qs = qs.filter(organization_id=organization)
    if resource:
        qs = qs.filter(resource_key=resource)
    return requests_with_details(qs).order_by("-created_at", "id")


def request_visible(user: Any, request_id: Any) -> AccessRequest | None:
    """A request its requester, approvers, reviewers and the organization's ``access:manage``
    holders may see; ``None`` for anyone else."""
    row = requests_with_details(AccessRequest.objects.filter(pk=request_id)).first()
    if row is None:
        return None
    if (
        row.requester_id == user.pk
        or any(a.pk == user.pk for a in row.approvers.all())
        or any(r.reviewer_id == user.pk for r in row.reviews.all())
        or can(user, "access:manage", row.organization)
    ):
        return row
    return None


def grant_visible(user: Any, grant_id: Any) -> Grant | None:
    """A grant its holder, the approvers of its request and ``access:manage`` may see."""
    row = Grant.objects.select_related("organization", "request").filter(pk=grant_id).first()
    if row is None:
        return None
    if row.user_id == user.pk or can(user, "access:manage", row.organization):
        return row
    if row.request_id is not None and (
        row.request.approvers.filter(pk=user.pk).exists()
        or row.request.reviews.filter(reviewer_id=user.pk).exists()
    ):
        return row
    return None


def grants_of_user(user: Any) -> QuerySet[Grant]:
    return Grant.objects.filter(user_id=user.pk).order_by("-starts_at", "id")


def grants_of_organization(organization: Organization) -> QuerySet[Grant]:
    return Grant.objects.filter(organization=organization).order_by("-starts_at", "id")


def access_check(
    *, user_id: Any, organization_id: Any, resource: str, access_level: str
) -> dict[str, Any]:
    """``{allowed, via, grant, expires_at}``: the active grant with the latest end, in one
    query on the ``grant_check`` index (with its holder's membership and the organization's
    status); ``expires_at`` is compared now, so a grant the task has not yet marked expired
    never allows."""
    # A grant gives nothing once its holder stops being an active member or the organization
    # is archived, whatever its own status says: both are read in the same query.
    member = Membership.objects.filter(
        organization_id=OuterRef("organization_id"),
        user_id=OuterRef("user_id"),
        status=Membership.Status.ACTIVE,
    )
    row = (
        Grant.objects.filter(
            user_id=user_id,
            organization_id=organization_id,
            resource_key=resource,
            access_level=access_level,
            status=Grant.Status.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .exclude(organization__status=Organization.Status.ARCHIVED)
        .filter(Exists(member))
        .order_by("-expires_at")
        .values_list("pk", "expires_at")
        .first()
    )
    if row is not None:
        return {"allowed": True, "via": "grant", "grant": row[0], "expires_at": row[1]}
    if resource.startswith(ORG_ROLE_PREFIX):
        # A role held by membership answers too (asked only when no grant does).
        org = Organization.objects.filter(pk=organization_id).first()
        membership = active_membership(_UserRef(user_id), org) if org is not None else None
        if membership is not None and any(
            r.key == resource[len(ORG_ROLE_PREFIX) :] for r in membership.roles.all()
        ):
            return {"allowed": True, "via": "role", "grant": None, "expires_at": None}
    return {"allowed": False, "via": None, "grant": None, "expires_at": None}


class _UserRef:
    """A user known by id only, for ``active_membership``."""

    is_authenticated = True

    def __init__(self, pk: Any) -> None:
        self.pk = pk


def grant_permission_sources(
    *, user: Any, organization: Organization, team: Any = None
) -> Iterable[tuple[str, Source]]:
    """Registered with ``orgs.permissions.register_source``: an active ``org-role:<key>``
    grant adds that role's permissions (source type ``grant``) until it ends."""
    grants = list(
        active_grants()
        .filter(
            user_id=user.pk,
            organization=organization,
            resource_key__startswith=ORG_ROLE_PREFIX,
        )
        .values_list("pk", "resource_key", "expires_at")
    )
    if not grants:
        return []
    keys = {key[len(ORG_ROLE_PREFIX) :] for _pk, key, _exp in grants}
    roles = {
        r.key: r
        for r in Role.objects.filter(key__in=keys).filter(
            Q(organization__isnull=True) | Q(organization=organization)
        )
    }
    found = []
    for pk, key, expires_at in grants:
        role = roles.get(key[len(ORG_ROLE_PREFIX) :])
        if role is None:
            continue
        source = {
            "type": "grant",
            "id": str(pk),
            "name": f"{role.name} until {expires_at:%Y-%m-%d %H:%M}Z",
        }
        for perm in role_permissions(role.key, role.permissions):
            found.append((perm, source))
    return found
