"""Reading policies: the platform's, an organization's, and the effective one of a user.

Read per check (one indexed query), so a change applies at the next check in every process,
with no cache to invalidate."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from access.policies.models import PasswordHistory, SecurityPolicy
from access.policies.types import LOCKOUT, defaults, strictest
from accounts.models import User
from orgs.models import Membership, Organization


def _complete(policy_type: str, stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored values over the defaults (a field added later gets its default)."""
    return {**defaults(policy_type), **(stored or {})}


def stored_policy(organization: Organization | None, policy_type: str) -> SecurityPolicy | None:
    return SecurityPolicy.objects.filter(organization=organization, policy_type=policy_type).first()


def platform_values(policy_type: str) -> dict[str, Any]:
    row = stored_policy(None, policy_type)
    return _complete(policy_type, row.values if row else None)


def policy_values(organization: Organization | None, policy_type: str) -> dict[str, Any]:
    """What a scope says: an organization without a policy of its own says the platform's."""
    row = stored_policy(organization, policy_type)
    if row is None and organization is not None:
        return platform_values(policy_type)
    return _complete(policy_type, row.values if row else None)


def effective_values(user: Any, policy_type: str) -> dict[str, Any]:
    """The strictest of the platform's policy and those of every active organization
    ``user`` is an active member of (``user`` None or unsaved: the platform's)."""
    scopes = Q(organization__isnull=True)
    if user is not None and getattr(user, "pk", None) is not None:
        scopes |= Q(
            organization__status=Organization.Status.ACTIVE,
            organization__memberships__user_id=user.pk,
            organization__memberships__status=Membership.Status.ACTIVE,
        )
    rows = list(
        SecurityPolicy.objects.filter(scopes, policy_type=policy_type).values_list(
            "organization_id", "values"
        )
    )
    platform = next((v for org, v in rows if org is None), None)
    values = [_complete(policy_type, platform)]
    values += [_complete(policy_type, v) for org, v in rows if org is not None]
    return strictest(policy_type, values)


def lockout_values(login: str) -> dict[str, Any] | None:
    """The effective lockout policy of the account signing in as ``login`` (an email
    address): the platform's for an unknown address; None while no lockout policy is
    stored at all (the setting's rate applies)."""
    if not SecurityPolicy.objects.filter(policy_type=LOCKOUT).exists():
        return None
    user = User.objects.filter(email__iexact=login).only("pk").first() if login else None
    return effective_values(user, LOCKOUT)


def password_hashes(user: Any, count: int) -> list[str]:
    """The hashes of ``user``'s last ``count`` passwords, newest first."""
    if count <= 0:
        return []
    return list(
        PasswordHistory.objects.filter(user_id=user.pk).values_list("password", flat=True)[:count]
    )
