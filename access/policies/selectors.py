"""Reading policies: the platform's, an organization's, and the effective one of a user.

Read per check (one indexed query), so a change applies at the next check in every process.
The one thing cached is which policy types have any stored row at all (``stored_types``,
invalidated by ``access.policies.services.policy_set`` when it commits), so the sign-in and
refresh paths ask nothing more while a type is left at its defaults."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from access.policies.models import PasswordHistory, SecurityPolicy
from access.policies.types import (
    LOCKOUT,
    MFA,
    MFA_ADMINS,
    MFA_ALL,
    PASSWORD,
    SESSION,
    defaults,
    strictest,
)
from accounts.models import User
from config.outages import is_outage
from config.request_context import request_memo
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


STORED_TYPES_KEY = "policies:stored-types"
# Deleted at every policy_set; the timeout bounds how long a missed deletion (the cache was
# unreachable then) can last.
STORED_TYPES_TTL = 60


def stored_types() -> frozenset[str]:
    """The policy types with at least one stored row (platform or organization), cached
    until the next ``policy_set`` (at most ``STORED_TYPES_TTL`` seconds), and read once per
    request (a refresh asks for several policies)."""
    memo = request_memo()
    if memo is not None and STORED_TYPES_KEY in memo:
        return memo[STORED_TYPES_KEY]
    try:
        found = cache.get(STORED_TYPES_KEY)
    except Exception as exc:
        if not is_outage(exc):
            raise
        found, reachable = None, False  # the cache is down: ask the database
    else:
        reachable = True
    if found is None:
        found = frozenset(SecurityPolicy.objects.values_list("policy_type", flat=True).distinct())
        if reachable:
            cache.set(STORED_TYPES_KEY, found, timeout=STORED_TYPES_TTL)
    if memo is not None:
        memo[STORED_TYPES_KEY] = found
    return found


def _scopes(user: Any) -> Q:
    """The platform and every active organization ``user`` is an active member of."""
    scopes = Q(organization__isnull=True)
    if user is not None and getattr(user, "pk", None) is not None:
        scopes |= Q(
            organization__status=Organization.Status.ACTIVE,
            organization__memberships__user_id=user.pk,
            organization__memberships__status=Membership.Status.ACTIVE,
        )
    return scopes


def effective_values(user: Any, policy_type: str) -> dict[str, Any]:
    """The strictest of the platform's policy and those of every active organization
    ``user`` is an active member of (``user`` None or unsaved: the platform's)."""
    if policy_type not in stored_types():
        return _complete(policy_type, None)
    rows = list(
        SecurityPolicy.objects.filter(_scopes(user), policy_type=policy_type).values_list(
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
    if LOCKOUT not in stored_types():
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


def password_set_at(user: Any) -> datetime | None:
    """When ``user``'s current password was set: its row in the password history (one is
    always kept, whatever the policy's ``history``); None for a password set before
    Roster kept them."""
    return (
        PasswordHistory.objects.filter(user_id=user.pk).values_list("created_at", flat=True).first()
    )


def _latest_change(user: Any, policy_type: str, applies) -> datetime | None:
    """The last change of the policies of ``policy_type`` that apply to ``user`` and whose
    values satisfy ``applies``."""
    rows = SecurityPolicy.objects.filter(_scopes(user), policy_type=policy_type).values_list(
        "values", "updated_at"
    )
    changes = [at for values, at in rows if applies(_complete(policy_type, values))]
    return max(changes, default=None)


def password_expires_at(user: Any) -> datetime | None:
    """When ``user``'s password expires under their effective ``expiry_days`` (None: never,
    or no usable password). Counted from when it was set; a password older than Roster's
    records counts from the later of the account's creation and the last change of an
    expiring policy that applies, so switching expiry on never locks everyone out at once."""
    if PASSWORD not in stored_types() or not user.has_usable_password():
        return None
    days = effective_values(user, PASSWORD)["expiry_days"]
    if not days:
        return None
    start = password_set_at(user)
    if start is None:
        changed = _latest_change(user, PASSWORD, lambda v: v["expiry_days"] > 0)
        start = max(filter(None, (user.date_joined, changed)))
    return start + timedelta(days=days)


def password_expired(user: Any) -> bool:
    expires_at = password_expires_at(user)
    return expires_at is not None and expires_at <= timezone.now()


def _org_admin_ids(user: Any) -> set[Any]:
    return set(
        Membership.objects.filter(
            user_id=user.pk,
            status=Membership.Status.ACTIVE,
            roles__key__in=("owner", "admin"),
        ).values_list("organization_id", flat=True)
    )


def mfa_deadline(user: Any) -> datetime | None:
    """When ``user`` must have a second factor by (None: no policy requires one of them).

    Each applicable ``mfa`` policy is read on its own: the platform's ``admins`` means the
    platform's admins, an organization's ``admins`` its owners and admins. Of the policies
    that require it of ``user``, the earliest end of a grace period, each counted from the
    later of the account's creation, the membership's start (an organization's policy) and
    the policy's last change."""
    if MFA not in stored_types() or getattr(user, "pk", None) is None:
        return None
    rows = list(
        SecurityPolicy.objects.filter(_scopes(user), policy_type=MFA).values_list(
            "organization_id", "values", "updated_at"
        )
    )
    joined = dict(
        Membership.objects.filter(
            user_id=user.pk, organization_id__in=[o for o, _, _ in rows if o is not None]
        ).values_list("organization_id", "joined_at")
    )
    admin_of: set[Any] | None = None
    deadlines = []
    for org_id, stored, updated_at in rows:
        values = _complete(MFA, stored)
        if values["required_for"] == MFA_ADMINS:
            if org_id is None:
                applies = "admin" in (user.roles or [])
            else:
                if admin_of is None:
                    admin_of = _org_admin_ids(user)
                applies = org_id in admin_of
        else:
            applies = values["required_for"] == MFA_ALL
        if applies:
            start = max(filter(None, (user.date_joined, updated_at, joined.get(org_id))))
            deadlines.append(start + timedelta(days=values["grace_days"]))
    return min(deadlines, default=None)


def session_values(user: Any) -> dict[str, Any]:
    return effective_values(user, SESSION)
