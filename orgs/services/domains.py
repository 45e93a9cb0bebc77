"""An organization's email domains: added by ``org:update``, verified by a platform admin or
by an organization admin holding a verified email at that domain; ``join_mode`` decides what
a verified email there does (``suggest``: listed; ``auto``: joins as ``member``)."""

from __future__ import annotations

import re
from typing import Any

from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record
from config.errors import Conflict, Forbidden, Invalid, NotFound
from orgs.catalogue import MEMBER_ROLE
from orgs.models import Membership, Organization, OrganizationDomain, Role
from orgs.permissions import is_platform_admin
from orgs.services.rules import ensure_seats, ensure_writable, lock_organization, require

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_UNSET: Any = object()


def clean_domain(value: Any, *, attr: str = "domain") -> str:
    if not isinstance(value, str):
        raise Invalid("invalid", "Expected a string.", attr=attr)
    domain = value.strip().lower().rstrip(".")
    if not DOMAIN_RE.fullmatch(domain) or domain.split(".")[-1].isdigit():
        raise Invalid("invalid_domain", "Enter a domain name such as example.com.", attr)
    return domain


def clean_join_mode(value: Any) -> str:
    if value not in OrganizationDomain.JoinMode.values:
        raise Invalid("invalid_choice", "join_mode is off, suggest or auto.", attr="join_mode")
    return value


def _domain_taken() -> Conflict:
    return Conflict("domain_taken", "The domain belongs to an organization.", attr="domain")


def _holds_verified_email_at(user: Any, domain: str) -> bool:
    return EmailAddress.objects.filter(
        user=user, verified=True, email__iendswith=f"@{domain}"
    ).exists()


def domain_add(
    *,
    organization: Organization,
    actor: Any,
    domain: str,
    join_mode: str = OrganizationDomain.JoinMode.OFF,
    verified: bool = False,
    request=None,
) -> OrganizationDomain:
    """``verified=True`` only from Roster itself (tenant onboarding) or a platform admin;
    an organization admin's own verified email at the domain verifies it too."""
    require(actor, "org:update", organization)
    domain = clean_domain(domain)
    join_mode = clean_join_mode(join_mode)
    if verified and actor is not None and not is_platform_admin(actor):
        raise Forbidden(detail="Only platform admins confirm domains.")
    verified = verified or (actor is not None and _holds_verified_email_at(actor, domain))
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        if OrganizationDomain.objects.filter(domain=domain).exists():
            raise _domain_taken()
        try:
            with transaction.atomic():
                row = OrganizationDomain.objects.create(
                    organization=locked,
                    domain=domain,
                    join_mode=join_mode,
                    verified=verified,
                    verified_at=timezone.now() if verified else None,
                )
        except IntegrityError as exc:
            raise _domain_taken() from exc
        record(
            action="org.domain.added",
            actor=actor,
            target=row,
            request=request,
            changes={"domain": [None, domain], "join_mode": [None, join_mode]},
            metadata={"organization": str(locked.pk), "verified": verified},
        )
    return row


def _domain_row(organization: Organization, domain: str) -> OrganizationDomain:
    row = OrganizationDomain.objects.filter(
        organization=organization, domain=str(domain).lower()
    ).first()
    if row is None:
        raise NotFound()
    return row


def domain_update(
    *,
    organization: Organization,
    domain: str,
    actor: Any,
    join_mode: str | None = None,
    request=None,
) -> OrganizationDomain:
    """Change what a verified address at the domain does; a change that names nothing
    (``join_mode`` left out) changes nothing and answers the domain as it is."""
    require(actor, "org:update", organization)
    if join_mode is not None:
        join_mode = clean_join_mode(join_mode)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        row = _domain_row(locked, domain)
        if join_mode is not None and row.join_mode != join_mode:
            before, row.join_mode = row.join_mode, join_mode
            row.save(update_fields=["join_mode"])
            record(
                action="org.domain.updated",
                actor=actor,
                target=row,
                request=request,
                changes={"join_mode": [before, join_mode]},
                metadata={"organization": str(locked.pk)},
            )
    return row


def domain_verify(
    *, organization: Organization, domain: str, actor: Any, request=None
) -> OrganizationDomain:
    """A platform admin confirms the domain, or an organization admin with a verified email
    there (403 otherwise)."""
    require(actor, "org:update", organization)
    row = _domain_row(organization, domain)
    if actor is not None and not (
        is_platform_admin(actor) or _holds_verified_email_at(actor, row.domain)
    ):
        raise Forbidden(
            "domain_unproven", "Only a platform admin, or a verified email there, proves it."
        )
    with transaction.atomic():
        row = OrganizationDomain.objects.select_for_update().get(pk=row.pk)
        if not row.verified:
            row.verified, row.verified_at = True, timezone.now()
            row.save(update_fields=["verified", "verified_at"])
            record(
                action="org.domain.verified",
                actor=actor,
                target=row,
                request=request,
                changes={"verified": [False, True]},
                metadata={"organization": str(row.organization_id)},
            )
    return row


def domain_remove(*, organization: Organization, domain: str, actor: Any, request=None) -> None:
    require(actor, "org:update", organization)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        row = _domain_row(locked, domain)
        row.delete()
        record(
            action="org.domain.removed",
            actor=actor,
            target=("organizationdomain", row.domain),
            request=request,
            changes={"domain": [row.domain, None]},
            metadata={"organization": str(locked.pk)},
        )


def domains_join_on_verified_email(*, user: Any, email: str) -> list[Membership]:
    """``auto`` domains make the owner of a newly verified email a ``member`` (when a seat is
    free: a full organization is skipped, never overfilled). Called on allauth's
    ``email_confirmed``."""
    domain = email.rsplit("@", 1)[-1].lower()
    rows = OrganizationDomain.objects.filter(
        domain=domain,
        verified=True,
        join_mode=OrganizationDomain.JoinMode.AUTO,
        organization__status=Organization.Status.ACTIVE,
    ).select_related("organization")
    joined = []
    member_role = Role.objects.get(organization=None, key=MEMBER_ROLE)
    for row in rows:
        with transaction.atomic():
            locked = lock_organization(row.organization)
            if Membership.objects.filter(organization=locked, user=user).exists():
                continue
            try:
                ensure_seats(locked, 1)
            except Conflict:
                continue
            membership = Membership.objects.create(organization=locked, user=user)
            membership.roles.set([member_role])
            record(
                action="org.member.added",
                actor=None,
                target=user,
                changes={"roles": [None, [MEMBER_ROLE]]},
                metadata={"organization": str(locked.pk), "via": "domain", "domain": domain},
            )
            joined.append(membership)
    return joined
