"""Adding, changing and removing organization members; their roles and direct permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from audit.services import record
from config.errors import Conflict, Forbidden, Invalid, NotFound
from orgs import hooks, notices
from orgs.catalogue import MEMBER_ROLE, OWNER_ROLE
from orgs.models import Membership, Organization, Role, TeamMembership
from orgs.services.rules import (
    clean_email,
    clean_permission_keys,
    ensure_may_grant,
    ensure_not_last_owner,
    ensure_seats,
    ensure_writable,
    lock_organization,
    require,
    resolve_roles,
)
from orgs.tokens import REASON_MEMBER_REMOVED, REASON_MEMBER_SUSPENDED

_UNSET: Any = object()


def _already_member() -> Conflict:
    return Conflict("already_member", "This person is already a member.")


def find_user(*, user_id: Any = None, email: str | None = None):
    """An account by id or email; 404 when there is none (invitations are for new people)."""
    User = get_user_model()
    if user_id is not None:
        user = User.objects.filter(pk=user_id).first()
    else:
        user = User.objects.filter(email__iexact=clean_email(email)).first()
    if user is None:
        raise NotFound("user_not_found", "No account has this id or email; send an invitation.")
    return user


def _join(
    locked: Organization, user: Any, roles: list[Role], *, actor: Any, request, via: str
) -> Membership:
    """Insert the membership of a locked organization (seat already checked)."""
    try:
        with transaction.atomic():
            membership = Membership.objects.create(organization=locked, user=user)
    except IntegrityError as exc:
        raise _already_member() from exc
    membership.roles.set(roles)
    record(
        action="org.member.added",
        actor=actor,
        target=user,
        request=request,
        changes={"roles": [None, [r.key for r in roles]]},
        metadata={"organization": str(locked.pk), "via": via},
    )
    notices.membership_changed(
        organization=locked, user=user, actor=actor, change="added", roles=[r.key for r in roles]
    )
    return membership


def member_add(
    *,
    organization: Organization,
    actor: Any,
    user: Any = None,
    email: str | None = None,
    roles: list[str] | None = None,
    request=None,
) -> Membership:
    """Add an existing account at once (``members:manage``); seats hold under concurrency."""
    require(actor, "members:manage", organization)
    role_rows = resolve_roles(organization, roles if roles is not None else [MEMBER_ROLE])
    if user is None:
        user = find_user(email=email)
    ensure_may_grant(actor, organization, roles=role_rows)
    if user.status != "active":
        raise Conflict("account_inactive", "Only active accounts can join an organization.")
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        if Membership.objects.filter(organization=locked, user=user).exists():
            raise _already_member()
        pending = locked.invitations.filter(status="pending", email__iexact=user.email)
        # A pending invitation to this person holds their seat: it is used, not added to.
        ensure_seats(locked, 1, releasing=pending.count())
        membership = _join(locked, user, role_rows, actor=actor, request=request, via="added")
        pending.update(status="canceled", token_digest="")
    return membership


def _lock_membership(organization: Organization, user_id: Any) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .filter(organization=organization, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFound()
    return membership


def member_update(
    *,
    organization: Organization,
    user_id: Any,
    actor: Any,
    roles: list[str] = _UNSET,
    status: str = _UNSET,
    request=None,
) -> Membership:
    """PATCH a member's roles (replacing them) and/or status."""
    require(actor, "members:manage", organization)
    new_roles = resolve_roles(organization, roles) if roles is not _UNSET else _UNSET
    if status is not _UNSET and status not in Membership.Status.values:
        raise Invalid("invalid_choice", "Status is active or suspended.", attr="status")
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        membership = _lock_membership(locked, user_id)
        before_roles = sorted(r.key for r in membership.roles.all())
        changes = _member_changes(
            locked, membership, before_roles, new_roles=new_roles, status=status, actor=actor
        )
        if not changes:
            return membership
        after_keys = changes["roles"][1] if "roles" in changes else before_roles
        status_after = changes["status"][1] if "status" in changes else membership.status
        if OWNER_ROLE not in after_keys or status_after != Membership.Status.ACTIVE:
            ensure_not_last_owner(locked, membership)
        if "roles" in changes:
            membership.roles.set(new_roles)
        if "status" in changes:
            membership.status = status
            membership.save(update_fields=["status"])
        _record_member_changes(
            locked, membership, changes, status=status, actor=actor, request=request
        )
        notices.membership_changed(
            organization=locked,
            user=membership.user,
            actor=actor,
            change=notices.membership_change_of(changes),
            roles=after_keys,
        )
    return membership


def _record_member_changes(
    locked: Organization,
    membership: Membership,
    changes: dict[str, Any],
    *,
    status: str,
    actor: Any,
    request=None,
) -> None:
    """``member_update``'s audit rows, one per kind of change; a suspension also ends what
    the membership held (the apps' ``membership_ended`` hooks), in the same transaction."""
    if "roles" in changes:
        record(
            action="org.member.roles.changed",
            actor=actor,
            target=membership.user,
            request=request,
            changes={"roles": changes["roles"]},
            metadata={"organization": str(locked.pk)},
        )
    if "status" in changes:
        record(
            action="org.member.status.changed",
            actor=actor,
            target=membership.user,
            request=request,
            changes={"status": changes["status"]},
            metadata={"organization": str(locked.pk)},
        )
        if status == Membership.Status.SUSPENDED:
            hooks.membership_ended(
                organization=locked,
                user_id=membership.user_id,
                reason=REASON_MEMBER_SUSPENDED,
                actor=actor,
                request=request,
            )


def _member_changes(
    locked: Organization,
    membership: Membership,
    before_roles: list[str],
    *,
    new_roles: Any,
    status: Any,
    actor: Any,
) -> dict[str, list]:
    """What a PATCH changes, once the actor may make each change."""
    changes: dict[str, list] = {}
    if new_roles is not _UNSET:
        after = sorted(r.key for r in new_roles)
        if after != before_roles:
            added = [r for r in new_roles if r.key not in before_roles]
            ensure_may_grant(actor, locked, roles=added)
            if OWNER_ROLE in set(before_roles) - set(after):
                _ensure_may_change_owners(actor, locked)
            changes["roles"] = [before_roles, after]
    if status is not _UNSET and status != membership.status:
        if status == Membership.Status.SUSPENDED and membership.user_id == getattr(
            actor, "pk", None
        ):
            raise Conflict("cannot_suspend_self", "You cannot suspend yourself.")
        if OWNER_ROLE in before_roles:
            _ensure_may_change_owners(actor, locked)
        changes["status"] = [membership.status, status]
    return changes


def _ensure_may_change_owners(actor: Any, organization: Organization) -> None:
    require(actor, "owners:manage", organization, "Only an owner may change owners.")


def member_remove(*, organization: Organization, user_id: Any, actor: Any, request=None) -> None:
    """Remove a member (``members:manage``), or leave (a member removing themself). Their
    team memberships go with them; the last owner and a team's last lead stay."""
    leaving = actor is not None and str(getattr(actor, "pk", "")) == str(user_id)
    if not leaving:
        require(actor, "members:manage", organization)
    with transaction.atomic():
        locked = lock_organization(organization)
        membership = _lock_membership(locked, user_id)
        roles = [r.key for r in membership.roles.all()]
        if OWNER_ROLE in roles and not leaving:
            _ensure_may_change_owners(actor, locked)
        ensure_not_last_owner(locked, membership)
        team_rows = TeamMembership.objects.filter(
            user_id=user_id, team__organization=locked
        ).select_related("team")
        from orgs.services.teams import ensure_not_last_lead

        for row in team_rows:
            ensure_not_last_lead(row)
        team_rows.delete()
        membership.delete()
        record(
            action="org.member.removed",
            actor=actor,
            target=membership.user,
            request=request,
            changes={"roles": [roles, None]},
            metadata={"organization": str(locked.pk), "left": leaving},
        )
        notices.membership_changed(
            organization=locked, user=membership.user, actor=actor, change="removed"
        )
        hooks.membership_ended(
            organization=locked,
            user_id=membership.user_id,
            reason=REASON_MEMBER_REMOVED,
            actor=actor,
            request=request,
        )


def member_permissions_update(
    *,
    organization: Organization,
    user_id: Any,
    actor: Any,
    permissions_to_add: list[str] = (),
    permissions_to_remove: list[str] = (),
    roles_to_assign: list[str] = (),
    roles_to_remove: list[str] = (),
    request=None,
) -> Membership:
    """The permission update of docs/api.md (``roles:manage``): direct permissions and roles,
    added and removed at once. Nobody grants what they do not hold (403 ``cannot_grant``)."""
    require(actor, "roles:manage", organization)
    add = clean_permission_keys(list(permissions_to_add), attr="permissions_to_add")
    remove = clean_permission_keys(list(permissions_to_remove), attr="permissions_to_remove")
    assign = resolve_roles(organization, list(roles_to_assign), attr="roles_to_assign")
    unassign = resolve_roles(organization, list(roles_to_remove), attr="roles_to_remove")
    both = (set(add) & set(remove)) or ({r.key for r in assign} & {r.key for r in unassign})
    if both:
        raise Invalid("contradictory_change", f"Both added and removed: {', '.join(sorted(both))}.")
    ensure_may_grant(actor, organization, permissions=add, roles=assign)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        membership = _lock_membership(locked, user_id)
        before_roles = sorted(r.key for r in membership.roles.all())
        before_perms = sorted(membership.permissions or [])
        if any(r.key == OWNER_ROLE for r in unassign) and OWNER_ROLE in before_roles:
            _ensure_may_change_owners(actor, locked)
            ensure_not_last_owner(locked, membership)
        after_perms = sorted((set(before_perms) | set(add)) - set(remove))
        keep = [r for r in membership.roles.all() if r.key not in {u.key for u in unassign}]
        after_role_rows = keep + [r for r in assign if r.key not in {k.key for k in keep}]
        after_roles = sorted(r.key for r in after_role_rows)
        if after_perms != before_perms:
            membership.permissions = after_perms
            membership.save(update_fields=["permissions"])
            record(
                action="org.member.permissions.changed",
                actor=actor,
                target=membership.user,
                request=request,
                changes={"permissions": [before_perms, after_perms]},
                metadata={"organization": str(locked.pk)},
            )
        if after_roles != before_roles:
            membership.roles.set(after_role_rows)
            record(
                action="org.member.roles.changed",
                actor=actor,
                target=membership.user,
                request=request,
                changes={"roles": [before_roles, after_roles]},
                metadata={"organization": str(locked.pk)},
            )
    return membership


def ensure_member(organization: Organization, user: Any) -> Membership:
    membership = Membership.objects.filter(organization=organization, user=user).first()
    if membership is None:
        raise Forbidden("not_a_member", "Only organization members can do this.")
    return membership


def memberships_end_for_erasure(*, user: Any) -> int:
    """An erased person leaves every organization and team (registered with
    ``accounts.hooks``). Unlike leaving, this never refuses: an organization whose last
    owner is erased keeps its other members and is left for a platform admin to hand over."""
    rows = list(
        Membership.objects.filter(user=user)
        .select_related("organization")
        .prefetch_related("roles")
    )
    TeamMembership.objects.filter(user=user).delete()
    for membership in rows:
        held = sorted(r.key for r in membership.roles.all())
        membership.delete()
        record(
            action="org.member.removed",
            actor=None,
            target=user,
            changes={"roles": [held, None]},
            metadata={"organization": str(membership.organization_id), "reason": "erasure"},
        )
        hooks.membership_ended(
            organization=membership.organization,
            user_id=user.pk,
            reason=hooks.REASON_ERASURE,
        )
    return len(rows)
