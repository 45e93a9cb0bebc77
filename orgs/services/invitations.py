"""Invitations: created (one or a bulk of up to 500, all or nothing), mailed with a
single-use link, canceled, resent (the old link dies), accepted or declined by the invitee.

The link's secret is shown only in the email; the database keeps its SHA-256. Pending
invitations hold seats: they are counted with the members under the organization's row lock.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.services.erasure import erased_email
from audit.services import record
from config.errors import Conflict, Invalid, NotFound
from orgs import notices
from orgs.catalogue import MEMBER_ROLE
from orgs.emails import send_invitation
from orgs.models import Invitation, Membership, Organization, Role, Team, TeamMembership
from orgs.services.rules import (
    clean_email,
    ensure_may_grant,
    ensure_seats,
    ensure_writable,
    lock_organization,
    require,
    resolve_roles,
)

DEFAULT_DAYS = 7
MAX_DAYS = 30
BULK_MAX = 500


class ItemsConflict(Exception):
    """Items of a bulk request that conflict with the current state (409), by
    ``invitations.<index>.<field>``."""

    def __init__(self, errors: dict[str, list[tuple[str, str]]]):
        self.errors = errors
        super().__init__("Some invitations conflict with the current state.")


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    raw = secrets.token_urlsafe(32)
    return raw, token_digest(raw)


def _clean_days(value: Any) -> int:
    if value is None:
        return DEFAULT_DAYS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise Invalid("invalid", f"A whole number of days from 1 to {MAX_DAYS}.", "expires_in_days")
    return value


def _resolve_teams(organization: Organization, refs: Any, *, attr: str) -> list[Team]:
    if not isinstance(refs, list | tuple):
        raise Invalid("invalid", "Expected a list of team ids.", attr=attr)
    ids = []
    for ref in refs:
        try:
            ids.append(uuid.UUID(str(ref)))
        except ValueError:
            raise Invalid("unknown_team", f"No such team: {str(ref)[:60]}.", attr=attr) from None
    teams = {t.pk: t for t in Team.objects.filter(organization=organization, pk__in=ids)}
    missing = [str(i) for i in ids if i not in teams]
    if missing:
        raise Invalid("unknown_team", f"No such team: {', '.join(missing)}.", attr=attr)
    return list({i: teams[i] for i in ids}.values())


def _clean_item(
    organization: Organization, item: dict, *, actor: Any, prefix: str = ""
) -> tuple[str, list[Role], list[Team]]:
    email = clean_email(item.get("email"), attr=f"{prefix}email")
    roles = resolve_roles(organization, item.get("roles") or [MEMBER_ROLE], attr=f"{prefix}roles")
    teams = _resolve_teams(organization, item.get("teams") or [], attr=f"{prefix}teams")
    ensure_may_grant(actor, organization, roles=roles)
    return email, roles, teams


def _expire_stale(organization: Organization) -> None:
    """Pending invitations past their expiry become expired: their seat and address free up."""
    Invitation.objects.filter(
        organization=organization, status=Invitation.Status.PENDING, expires_at__lte=timezone.now()
    ).update(status=Invitation.Status.EXPIRED, token_digest="")


def _conflict_of(organization: Organization, email: str) -> tuple[str, str] | None:
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        return "already_member", "This person is already a member."
    if Invitation.objects.filter(
        organization=organization, status=Invitation.Status.PENDING, email__iexact=email
    ).exists():
        return "invitation_pending", "An invitation to this address is pending."
    return None


def _insert(
    locked: Organization,
    *,
    email: str,
    roles: list[Role],
    teams: list[Team],
    days: int,
    actor: Any,
    request,
) -> tuple[Invitation, str]:
    raw, digest = _new_token()
    now = timezone.now()
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization=locked,
            email=email,
            token_digest=digest,
            invited_by=actor,
            created_at=now,
            expires_at=now + timedelta(days=days),
            valid_days=days,
        )
    invitation.roles.set(roles)
    invitation.teams.set(teams)
    record(
        action="org.invitation.created",
        actor=actor,
        target=invitation,
        request=request,
        changes={"roles": [None, [r.key for r in roles]]},
        metadata={
            "organization": str(locked.pk),
            "email": email,
            "teams": [str(t.pk) for t in teams],
        },
    )
    _mail_on_commit(invitation, raw)
    notices.invitation_received(invitation, actor=actor)
    return invitation, raw


def _mail_on_commit(invitation: Invitation, raw: str) -> None:
    transaction.on_commit(lambda: send_invitation(invitation_id=invitation.pk, token=raw))


def invitation_create(
    *,
    organization: Organization,
    actor: Any,
    email: str,
    roles: list[str] | None = None,
    teams: list[Any] | None = None,
    expires_in_days: int | None = None,
    request=None,
) -> tuple[Invitation, str]:
    """Invite one address; returns the invitation and the link's secret (mailed once)."""
    require(actor, "members:invite", organization)
    days = _clean_days(expires_in_days)
    email, role_rows, team_rows = _clean_item(
        organization, {"email": email, "roles": roles, "teams": teams}, actor=actor
    )
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        _expire_stale(locked)
        conflict = _conflict_of(locked, email)
        if conflict:
            raise Conflict(*conflict, attr="email")
        ensure_seats(locked, 1)
        try:
            return _insert(
                locked,
                email=email,
                roles=role_rows,
                teams=team_rows,
                days=days,
                actor=actor,
                request=request,
            )
        except IntegrityError as exc:
            raise Conflict("invitation_pending", "An invitation is pending.", "email") from exc


def invitations_bulk_create(
    *,
    organization: Organization,
    actor: Any,
    items: list[dict],
    expires_in_days: int | None = None,
    request=None,
) -> list[Invitation]:
    """Up to 500 invitations, all or nothing. Bad items: 400 by ``invitations.<i>.<field>``;
    items in conflict (member, pending, twice in the list): 409 the same way; not enough seats
    for them all: 409 ``seat_limit_reached``, nothing sent."""
    require(actor, "members:invite", organization)
    days = _clean_days(expires_in_days)
    if not isinstance(items, list) or not items:
        raise Invalid("invalid", "Give 1 to 500 invitations.", attr="invitations")
    if len(items) > BULK_MAX:
        raise Invalid("max_length", f"At most {BULK_MAX} invitations.", attr="invitations")
    cleaned = _clean_bulk(organization, items, actor=actor)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        _expire_stale(locked)
        conflicts: dict[str, list[tuple[str, str]]] = {}
        seen: set[str] = set()
        for i, (email, _roles, _teams) in enumerate(cleaned):
            conflict = _conflict_of(locked, email)
            if email in seen:
                conflict = ("duplicate", "This address appears earlier in the list.")
            seen.add(email)
            if conflict:
                conflicts[f"invitations.{i}.email"] = [conflict]
        if conflicts:
            raise ItemsConflict(conflicts)
        ensure_seats(locked, len(cleaned))
        created = [
            _insert(
                locked,
                email=email,
                roles=roles,
                teams=teams,
                days=days,
                actor=actor,
                request=request,
            )[0]
            for email, roles, teams in cleaned
        ]
    return created


def _clean_bulk(organization: Organization, items: list, *, actor: Any) -> list[tuple]:
    """Every item checked; all errors at once, by ``invitations.<i>.<field>``."""
    cleaned, errors = [], {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors[f"invitations.{i}"] = [ValidationError("Expected an object.", code="invalid")]
            continue
        try:
            cleaned.append(_clean_item(organization, item, actor=actor, prefix=f"invitations.{i}."))
        except Invalid as exc:
            errors.setdefault(exc.attr or f"invitations.{i}", []).append(
                ValidationError(exc.detail, code=exc.code)
            )
    if errors:
        raise ValidationError(errors)
    return cleaned


def _lock_invitation(organization: Organization, invitation_id: Any) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update()
        .filter(organization=organization, pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise NotFound()
    return invitation


def _ensure_pending(invitation: Invitation) -> None:
    status = invitation.effective_status()
    if status == Invitation.Status.EXPIRED:
        raise Conflict("invitation_expired", "The invitation has expired.")
    if status != Invitation.Status.PENDING:
        raise Conflict("invitation_not_pending", f"The invitation is {status}.")


def invitation_cancel(
    *, organization: Organization, invitation_id: Any, actor: Any, request=None
) -> Invitation:
    require(actor, "members:invite", organization)
    with transaction.atomic():
        locked = lock_organization(organization)
        invitation = _lock_invitation(locked, invitation_id)
        if invitation.status != Invitation.Status.PENDING:
            raise Conflict("invitation_not_pending", f"The invitation is {invitation.status}.")
        before = invitation.effective_status()
        invitation.status = Invitation.Status.CANCELED
        invitation.token_digest = ""
        invitation.decided_at = timezone.now()
        invitation.save(update_fields=["status", "token_digest", "decided_at"])
        record(
            action="org.invitation.canceled",
            actor=actor,
            target=invitation,
            request=request,
            changes={"status": [before, "canceled"]},
            metadata={"organization": str(locked.pk)},
        )
    return invitation


def invitation_resend(
    *, organization: Organization, invitation_id: Any, actor: Any, request=None
) -> Invitation:
    """A new link (the old one stops working) and a fresh expiry, from now. An expired
    invitation can be resent while its seat is free."""
    require(actor, "members:invite", organization)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        invitation = _lock_invitation(locked, invitation_id)
        status = invitation.effective_status()
        if status not in (Invitation.Status.PENDING, Invitation.Status.EXPIRED):
            raise Conflict("invitation_not_pending", f"The invitation is {status}.")
        if status == Invitation.Status.EXPIRED:
            conflict = _conflict_of(locked, invitation.email)
            if conflict:
                raise Conflict(*conflict)
            ensure_seats(locked, 1)
        raw, digest = _new_token()
        now = timezone.now()
        invitation.token_digest = digest
        invitation.status = Invitation.Status.PENDING
        invitation.expires_at = now + timedelta(days=invitation.valid_days)
        invitation.save(update_fields=["token_digest", "status", "expires_at"])
        record(
            action="org.invitation.resent",
            actor=actor,
            target=invitation,
            request=request,
            metadata={
                "organization": str(locked.pk),
                "expires_at": invitation.expires_at.isoformat(),
            },
        )
        _mail_on_commit(invitation, raw)
    return invitation


def _verified_emails(user: Any) -> set[str]:
    return {
        e.lower()
        for e in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    }


def invitation_for_invitee(
    *, invitation_id: Any, user: Any, token: str | None = None
) -> Invitation:
    """The invitation, if ``user`` holds a verified email equal to the invited one (and, when
    a link's secret is given, it is the live one); else 404, revealing nothing."""
    try:
        invitation_id = uuid.UUID(str(invitation_id))
    except ValueError:
        raise NotFound() from None
    invitation = Invitation.objects.select_related("organization").filter(pk=invitation_id).first()
    if invitation is None or invitation.email.lower() not in _verified_emails(user):
        raise NotFound()
    if token is not None and (
        not invitation.token_digest
        or not secrets.compare_digest(invitation.token_digest, token_digest(token))
    ):
        raise NotFound()
    return invitation


def invitation_accept(
    *, invitation_id: Any, user: Any, token: str | None = None, request=None
) -> Membership:
    """The invitee joins with the invited roles and teams; the link dies."""
    found = invitation_for_invitee(invitation_id=invitation_id, user=user, token=token)
    with transaction.atomic():
        locked = lock_organization(found.organization)
        invitation = _lock_invitation(locked, found.pk)
        _ensure_pending(invitation)
        if locked.status != Organization.Status.ACTIVE:
            raise Conflict("organization_inactive", f"The organization is {locked.status}.")
        if Membership.objects.filter(organization=locked, user=user).exists():
            raise Conflict("already_member", "You are already a member.")
        # The invitation's seat becomes the member's: no new seat is taken.
        now = timezone.now()
        invitation.status = Invitation.Status.ACCEPTED
        invitation.token_digest = ""
        invitation.decided_at = now
        invitation.accepted_by = user
        invitation.save(update_fields=["status", "token_digest", "decided_at", "accepted_by"])
        roles = list(invitation.roles.all())
        membership = Membership.objects.create(organization=locked, user=user, joined_at=now)
        membership.roles.set(roles)
        TeamMembership.objects.bulk_create(
            [TeamMembership(team=t, user=user) for t in invitation.teams.all()],
            ignore_conflicts=True,
        )
        record(
            action="org.invitation.accepted",
            actor=user,
            target=invitation,
            request=request,
            changes={"status": ["pending", "accepted"]},
            metadata={"organization": str(locked.pk)},
        )
        record(
            action="org.member.added",
            actor=user,
            target=user,
            request=request,
            changes={"roles": [None, [r.key for r in roles]]},
            metadata={"organization": str(locked.pk), "via": "invitation"},
        )
    return membership


def invitation_decline(
    *, invitation_id: Any, user: Any, token: str | None = None, request=None
) -> Invitation:
    found = invitation_for_invitee(invitation_id=invitation_id, user=user, token=token)
    with transaction.atomic():
        locked = lock_organization(found.organization)
        invitation = _lock_invitation(locked, found.pk)
        _ensure_pending(invitation)
        invitation.status = Invitation.Status.DECLINED
        invitation.token_digest = ""
        invitation.decided_at = timezone.now()
        invitation.save(update_fields=["status", "token_digest", "decided_at"])
        record(
            action="org.invitation.declined",
            actor=user,
            target=invitation,
            request=request,
            changes={"status": ["pending", "declined"]},
            metadata={"organization": str(locked.pk)},
        )
    return invitation


def invitations_end_for_erasure(*, user: Any) -> int:
    """An erased person's invitations (registered with ``accounts.hooks``): those addressed to
    any of their addresses lose the address (the account's pseudonymous one replaces it), and
    pending ones are canceled, their link dead; nobody can accept for a person who is gone.
    Runs before the account's own addresses are erased. Returns how many were pending."""
    addresses = {user.email.lower()} | {
        e.lower() for e in EmailAddress.objects.filter(user=user).values_list("email", flat=True)
    }
    match = Q()
    for address in addresses:
        match |= Q(email__iexact=address)
    rows = list(Invitation.objects.select_for_update().filter(match).order_by("created_at"))
    now = timezone.now()
    canceled = 0
    for invitation in rows:
        before = invitation.effective_status()
        invitation.email = erased_email(user.pk)
        if invitation.status == Invitation.Status.PENDING:
            invitation.status = Invitation.Status.CANCELED
            invitation.token_digest = ""
            invitation.decided_at = now
            canceled += 1
            record(
                action="org.invitation.canceled",
                actor=None,
                target=user,
                changes={"status": [before, "canceled"]},
                metadata={
                    "organization": str(invitation.organization_id),
                    "invitation": str(invitation.pk),
                    "reason": "erasure",
                },
            )
        invitation.save(update_fields=["email", "status", "token_digest", "decided_at"])
    return canceled
