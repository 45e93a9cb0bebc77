"""What a caller and its input must pass before the access request state machine
(``access.services.requests``) acts: a submission's checks (permission, level, duration,
justification, no such access held, enough approvers), who the approvers are, a review's
checks (an approver who has not reviewed, conditions that only narrow, a valid delegate,
nobody granting what they do not hold) and who may revoke a grant. These functions raise the
domain errors and write nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from access.models import ORG_ROLE_PREFIX, AccessRequest, Grant, Review
from access.services.resources import Resource, resource_get
from config.errors import Conflict, Forbidden, Invalid
from orgs.catalogue import role_permissions
from orgs.models import Membership, Organization, TeamMembership
from orgs.permissions import active_membership, can, membership_sources
from orgs.services.rules import clean_text, ensure_may_grant, ensure_writable

JUSTIFICATION_MAX = 2000
COMMENT_MAX = 2000


# --- approvers ----------------------------------------------------------------------------


def resolve_approvers(resource: Resource, organization: Organization, requester: Any) -> list:
    """The active members the resource names (roles, teams, users), without the requester.
    For a role resource only those who hold the role's permissions themselves (nobody grants
    what they do not hold)."""
    spec = resource.approvers
    active = Membership.objects.filter(
        organization=organization, status=Membership.Status.ACTIVE
    ).exclude(user_id=requester.pk)
    by_role = active.filter(roles__key__in=spec.get("roles", [])).filter(
        roles__organization__isnull=True
    ) | active.filter(roles__key__in=spec.get("roles", []), roles__organization=organization)
    team_users = TeamMembership.objects.filter(
        team_id__in=spec.get("teams", []), team__organization=organization
    ).values("user_id")
    memberships = (
        (
            by_role
            | active.filter(user_id__in=team_users)
            | active.filter(user_id__in=spec.get("users", []))
        )
        .distinct()
        .select_related("user")
        .prefetch_related("roles")
        .order_by("joined_at", "id")
    )
    if resource.role is None:
        return [m.user for m in memberships]
    needed = role_permissions(resource.role.key, resource.role.permissions)
    return [m.user for m in memberships if needed <= set(membership_sources(m))]


# --- submission ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A submission that passed its checks: the resource, the cleaned justification, the
    approvers resolved now, and whether the level is approved without them."""

    resource: Resource
    justification: str
    approvers: list
    auto: bool


def check_submission(
    *,
    organization: Organization,
    requester: Any,
    resource: str,
    access_level: str,
    justification: str,
    duration_days: int,
    now,
) -> Submission:
    """The checks of ``requests.request_submit``, in the order their refusals are given."""
    if not can(requester, "access:request", organization):
        raise Forbidden(detail="This needs the permission access:request.")
    ensure_writable(organization)
    found = resource_get(organization, resource)
    if access_level not in found.levels:
        raise Invalid("unknown_level", "The resource does not offer this level.", "access_level")
    if isinstance(duration_days, bool) or not isinstance(duration_days, int) or duration_days < 1:
        raise Invalid("invalid", "A positive number of days.", attr="duration_days")
    if duration_days > found.max_duration_days:
        raise Invalid(
            "duration_too_long",
            f"At most {found.max_duration_days} days for this resource.",
            attr="duration_days",
        )
    justification = clean_text(
        justification, attr="justification", max_length=JUSTIFICATION_MAX, required=True
    )
    if Grant.objects.filter(
        user_id=requester.pk,
        organization=organization,
        resource_key=found.key,
        access_level=access_level,
        status=Grant.Status.ACTIVE,
        expires_at__gt=now,
    ).exists() or (found.role is not None and _holds_role(requester, organization, found)):
        raise Conflict("already_granted", "You already have this access.")
    auto = access_level in found.auto_approve_levels
    approvers = resolve_approvers(found, organization, requester)
    if not auto and len(approvers) < found.min_approvals:
        raise Conflict(
            "no_approvers",
            f"The resource needs {found.min_approvals} approver(s) besides you; "
            f"{len(approvers)} can decide it.",
        )
    return Submission(found, justification, approvers, auto)


def _holds_role(user: Any, organization: Organization, resource: Resource) -> bool:
    membership = active_membership(user, organization)
    return membership is not None and any(r.pk == resource.role.pk for r in membership.roles.all())


# --- reviews ------------------------------------------------------------------------------


def check_review(
    locked: AccessRequest, *, reviewer: Any, action: str, conditions: Any, delegate_to: Any
) -> tuple[dict[str, Any], Any]:
    """The checks of ``requests.request_review`` on the locked pending request, in the order
    their refusals are given: ``(conditions, delegate)`` cleaned (``{}`` and None when the
    action takes none)."""
    if locked.reviews.filter(reviewer_id=reviewer.pk).exists():
        raise Conflict("already_reviewed", "You have reviewed this request.")
    if not locked.approvers.filter(pk=reviewer.pk).exists():
        raise Forbidden("not_an_approver", "You are not an approver of this request.")
    if active_membership(reviewer, locked.organization) is None:
        raise Forbidden("not_an_approver", "Only active members of the organization decide.")
    cleaned = _clean_conditions(locked, conditions) if action == "approve" else {}
    if action != "approve" and conditions not in (None, {}):
        raise Invalid("invalid", "Conditions go with an approval.", attr="conditions")
    delegate = None
    if action == Review.Action.DELEGATE:
        delegate = _clean_delegate(locked, delegate_to)
    elif delegate_to is not None:
        raise Invalid("invalid", "Only a delegation names a delegate.", attr="delegate_to")
    if action == Review.Action.APPROVE and locked.resource_key.startswith(ORG_ROLE_PREFIX):
        # Nobody grants what they do not hold, at decision time too.
        resource = resource_get(locked.organization, locked.resource_key)
        ensure_may_grant(reviewer, locked.organization, roles=[resource.role])
    return cleaned, delegate


def _clean_conditions(locked: AccessRequest, conditions: Any) -> dict[str, Any]:
    """Conditions may only narrow the request: fewer days, a level listed before it."""
    if conditions in (None, {}):
        return {}
    if not isinstance(conditions, dict) or set(conditions) - {"duration_days", "access_level"}:
        raise Invalid("invalid", "Expected {duration_days?, access_level?}.", attr="conditions")
    out: dict[str, Any] = {}
    if "duration_days" in conditions:
        days = conditions["duration_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise Invalid("invalid", "A positive number of days.", "conditions.duration_days")
        if days > locked.duration_days:
            raise Invalid(
                "conditions_wider",
                f"At most the {locked.duration_days} days asked for.",
                attr="conditions.duration_days",
            )
        out["duration_days"] = days
    if "access_level" in conditions:
        level = conditions["access_level"]
        levels = list(locked.levels) or [locked.access_level]
        if level not in levels or levels.index(level) > levels.index(locked.access_level):
            raise Invalid(
                "conditions_wider",
                "A level at most as wide as the one asked for.",
                attr="conditions.access_level",
            )
        out["access_level"] = level
    return out


def _clean_delegate(locked: AccessRequest, delegate_to: Any) -> Any:
    try:
        delegate_id = uuid.UUID(str(delegate_to))
    except ValueError:
        raise Invalid("invalid_delegate", "A member's user id.", attr="delegate_to") from None
    delegate = get_user_model().objects.filter(pk=delegate_id).first()
    if (
        delegate is None
        or delegate.pk == locked.requester_id
        or active_membership(delegate, locked.organization) is None
        or locked.approvers.filter(pk=delegate.pk).exists()
        or locked.reviews.filter(reviewer_id=delegate.pk).exists()
    ):
        raise Invalid(
            "invalid_delegate",
            "An active member of the organization who is neither the requester nor already "
            "an approver or a reviewer of this request.",
            attr="delegate_to",
        )
    return delegate


# --- grants -------------------------------------------------------------------------------


def may_revoke(user: Any, grant: Grant) -> bool:
    """``access:manage`` in the organization, an approver of its request, or the holder."""
    if grant.user_id == user.pk:
        return True
    if grant.request_id is not None and (
        grant.request.approvers.filter(pk=user.pk).exists()
        or grant.request.reviews.filter(reviewer_id=user.pk, action=Review.Action.APPROVE).exists()
    ):
        return True
    return can(user, "access:manage", grant.organization)
