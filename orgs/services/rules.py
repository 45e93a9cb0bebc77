"""Rules shared by the organization services: who may act, roles and permission keys, seats.

Services call these inside their transaction; none of them writes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.managers import normalize_email
from config.errors import Conflict, Forbidden, Invalid, NotFound
from orgs.catalogue import ALL_PERMISSIONS, OWNER_ROLE, role_permissions
from orgs.models import Invitation, Membership, Organization, Role, Team
from orgs.permissions import can, effective_permissions, is_platform_admin


def clean_text(value: Any, *, attr: str, max_length: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise Invalid("invalid", "Expected a string.", attr=attr)
    value = value.strip()
    if required and not value:
        raise Invalid("blank", "This field may not be blank.", attr=attr)
    if len(value) > max_length:
        raise Invalid("max_length", f"At most {max_length} characters.", attr=attr)
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in value.replace("\n", "")):
        raise Invalid("invalid_characters", "Control characters are not allowed.", attr=attr)
    return value


def clean_email(value: Any, *, attr: str = "email") -> str:
    if not isinstance(value, str):
        raise Invalid("invalid", "Expected a string.", attr=attr)
    email = normalize_email(value)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise Invalid("invalid_email", "Enter a valid email address.", attr=attr) from exc
    return email


# --- acting -------------------------------------------------------------------------------


def save_changes(row: Model, changes: dict, *, taken: Callable[[], Conflict]) -> None:
    """Apply ``changes`` (``{field: [before, after]}``) to a locked row and save them with
    ``updated_at``; a unique constraint lost to a concurrent writer is ``taken()`` (409)."""
    for field, (_before, after) in changes.items():
        setattr(row, field, after)
    row.updated_at = timezone.now()
    try:
        with transaction.atomic():
            row.save(update_fields=[*changes, "updated_at"])
    except IntegrityError as exc:
        raise taken() from exc


def require(actor: Any, permission: str, obj: Organization | Team, detail: str = "") -> None:
    """``actor=None`` is Roster itself (tasks, onboarding); anyone else needs the permission."""
    if actor is None:
        return

    if not can(actor, permission, obj):
        raise Forbidden(detail=detail or f"This needs the permission {permission}.")


def ensure_writable(organization: Organization) -> None:
    if organization.status != Organization.Status.ACTIVE:
        raise Conflict(
            "organization_inactive", f"The organization is {organization.status}: read-only."
        )


def lock_organization(organization: Organization) -> Organization:
    """The organization row is the lock for its seats, owners and memberships."""
    locked = Organization.objects.select_for_update().filter(pk=organization.pk).first()
    if locked is None:
        raise NotFound()
    return locked


# --- roles and permission keys ------------------------------------------------------------


def clean_permission_keys(keys: Any, *, attr: str) -> list[str]:
    if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
        raise Invalid("invalid", "Expected a list of permission keys.", attr=attr)
    unknown = [k for k in keys if k not in ALL_PERMISSIONS]
    if unknown:
        raise Invalid(
            "unknown_permission",
            f"Not in the permission catalogue: {', '.join(sorted(set(unknown)))[:300]}.",
            attr=attr,
        )
    return sorted(set(keys))


def resolve_roles(organization: Organization, keys: Any, *, attr: str = "roles") -> list[Role]:
    """Role rows for keys: built-ins and this organization's custom roles."""
    if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
        raise Invalid("invalid", "Expected a list of role keys.", attr=attr)
    wanted = list(dict.fromkeys(keys))
    rows = {
        r.key: r
        for r in Role.objects.filter(key__in=wanted).filter(organization__isnull=True)
        | Role.objects.filter(key__in=wanted, organization=organization)
    }
    unknown = [k for k in wanted if k not in rows]
    if unknown:
        raise Invalid("unknown_role", f"No such role: {', '.join(unknown)[:300]}.", attr=attr)
    return [rows[k] for k in wanted]


def permissions_of_roles(roles: Iterable[Role]) -> frozenset[str]:
    held: set[str] = set()
    for role in roles:
        held |= role_permissions(role.key, role.permissions)
    return frozenset(held)


def ensure_may_grant(
    actor: Any,
    organization: Organization,
    *,
    permissions: Iterable[str] = (),
    roles: Iterable[Role] = (),
    team: Team | None = None,
) -> None:
    """Nobody grants a permission or a role they do not hold themselves (403 ``cannot_grant``).
    The owner role is the owners' to give (``owners:manage``)."""
    if actor is None or is_platform_admin(actor):
        return
    roles = list(roles)
    held = effective_permissions(actor, organization, team)
    wanted = set(permissions) | permissions_of_roles(roles)
    if any(r.key == OWNER_ROLE for r in roles):
        wanted.add("owners:manage")
    missing = sorted(wanted - held)
    if missing:
        raise Forbidden(
            "cannot_grant",
            f"You cannot grant what you do not hold: {', '.join(missing)}.",
        )


# --- seats --------------------------------------------------------------------------------


def seats_used(organization: Organization) -> int:
    """Members (active or suspended) plus pending, unexpired invitations."""
    members = Membership.objects.filter(organization=organization).count()
    pending = Invitation.objects.filter(
        organization=organization,
        status=Invitation.Status.PENDING,
        expires_at__gt=timezone.now(),
    ).count()
    return members + pending


def ensure_seats(locked: Organization, adding: int, *, releasing: int = 0) -> None:
    """Call with the organization row locked (:func:`lock_organization`)."""
    if locked.seat_limit is None or adding <= 0:
        return
    used = seats_used(locked) - releasing
    if used + adding > locked.seat_limit:
        raise Conflict(
            "seat_limit_reached",
            f"{used} of {locked.seat_limit} seats are taken (pending invitations count); "
            f"{adding} more do not fit.",
        )


def owner_count(organization: Organization, *, exclude_user_id: Any = None) -> int:
    qs = Membership.objects.filter(
        organization=organization,
        status=Membership.Status.ACTIVE,
        roles__key=OWNER_ROLE,
        roles__organization__isnull=True,
    )
    if exclude_user_id is not None:
        qs = qs.exclude(user_id=exclude_user_id)
    return qs.distinct().count()


def ensure_not_last_owner(organization: Organization, membership: Membership) -> None:
    """Called with the organization locked, before the membership stops being an active
    owner (removed, demoted, suspended)."""
    is_owner = membership.status == Membership.Status.ACTIVE and any(
        r.key == OWNER_ROLE and r.builtin for r in membership.roles.all()
    )
    if is_owner and owner_count(organization, exclude_user_id=membership.user_id) == 0:
        raise Conflict("last_owner", "The organization's last owner cannot leave that role.")
