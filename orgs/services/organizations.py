"""Creating, changing and archiving organizations."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.selectors import email_verified_of
from audit.services import record
from config.errors import Conflict, Forbidden, Invalid
from orgs import hooks
from orgs.catalogue import OWNER_ROLE
from orgs.models import SLUG_RE, Membership, Organization, Plan, Role
from orgs.permissions import is_platform_admin
from orgs.services.rules import (
    clean_text,
    ensure_writable,
    lock_organization,
    require,
    save_changes,
)
from orgs.tokens import REASON_ORG_ARCHIVED

NAME_MAX = 100
DESCRIPTION_MAX = 2000
_UNSET: Any = object()


def clean_slug(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("invalid", "Expected a string.", attr="slug")
    slug = value.strip()
    if not re.fullmatch(SLUG_RE, slug):
        raise Invalid(
            "invalid_slug",
            "Lower-case letters, digits and dashes (not at either end), at most 50 characters.",
            attr="slug",
        )
    return slug


def slug_from_name(name: str) -> str:
    slug = slugify(name)[:50].strip("-")
    return slug or "org"


def _slug_taken() -> Conflict:
    return Conflict("slug_taken", "Another organization has this slug.", attr="slug")


def owned_count(user: Any) -> int:
    return (
        Membership.objects.filter(
            user_id=user.pk, roles__key=OWNER_ROLE, roles__organization__isnull=True
        )
        .exclude(organization__status=Organization.Status.ARCHIVED)
        .count()
    )


def org_create(
    *,
    name: str,
    actor: Any,
    slug: str | None = None,
    description: str = "",
    owner: Any = _UNSET,
    plan: Plan | None = None,
    seat_limit: int | None = None,
    features: list[str] | None = None,
    request=None,
) -> Organization:
    """Create an organization; ``owner`` (default: the actor) becomes its first owner.

    A verified user may own at most ``ROSTER["ORGS_PER_USER"]`` organizations; platform
    admins and Roster itself (``actor=None``) have no limit. (A little over 60 lines on
    purpose: the cleaning, the one transaction and its audit event read best in order.)
    """
    name = clean_text(name, attr="name", max_length=NAME_MAX, required=True)
    description = clean_text(description or "", attr="description", max_length=DESCRIPTION_MAX)
    slug = clean_slug(slug) if slug is not None else slug_from_name(name)
    owner = actor if owner is _UNSET else owner
    _ensure_may_create(actor)
    owner_role = Role.objects.get(organization=None, key=OWNER_ROLE)
    with transaction.atomic():
        if Organization.objects.filter(slug=slug).exists():
            raise _slug_taken()
        now = timezone.now()
        try:
            with transaction.atomic():
                org = Organization.objects.create(
                    slug=slug,
                    name=name,
                    description=description,
                    plan=plan,
                    seat_limit=seat_limit if seat_limit is not None else _plan_seats(plan),
                    features=list(features if features is not None else _plan_features(plan)),
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError as exc:
            # Two creates raced for the slug: the unique constraint decided.
            raise _slug_taken() from exc
        record(
            action="org.created",
            actor=actor,
            target=org,
            request=request,
            changes={"slug": [None, slug], "name": [None, name]},
            metadata={"plan": plan.key if plan else None, "seat_limit": org.seat_limit},
        )
        if owner is not None:
            membership = Membership.objects.create(organization=org, user=owner, joined_at=now)
            membership.roles.set([owner_role])
            record(
                action="org.member.added",
                actor=actor,
                target=owner,
                request=request,
                changes={"roles": [None, [OWNER_ROLE]]},
                metadata={"organization": str(org.pk)},
            )
    return org


def _ensure_may_create(actor: Any) -> None:
    if actor is None or is_platform_admin(actor):
        return
    if not email_verified_of(actor):
        raise Forbidden("email_unverified", "Verify your email address first.")
    limit = int(settings.ROSTER.get("ORGS_PER_USER", 5))
    if owned_count(actor) >= limit:
        raise Conflict("org_limit_reached", f"You already own {limit} organizations.")


def _plan_seats(plan: Plan | None) -> int | None:
    return plan.seat_limit if plan is not None else None


def _plan_features(plan: Plan | None) -> list[str]:
    return list(plan.features) if plan is not None else []


def org_update(
    *,
    organization: Organization,
    actor: Any,
    name: str = _UNSET,
    slug: str = _UNSET,
    description: str = _UNSET,
    request=None,
) -> Organization:
    require(actor, "org:update", organization)
    clean: dict[str, Any] = {}
    if name is not _UNSET:
        clean["name"] = clean_text(name, attr="name", max_length=NAME_MAX, required=True)
    if description is not _UNSET:
        clean["description"] = clean_text(
            description, attr="description", max_length=DESCRIPTION_MAX
        )
    if slug is not _UNSET:
        clean["slug"] = clean_slug(slug)
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        changes = {f: [getattr(locked, f), v] for f, v in clean.items() if getattr(locked, f) != v}
        if "slug" in changes and Organization.objects.filter(slug=clean["slug"]).exists():
            raise _slug_taken()
        if changes:
            save_changes(locked, changes, taken=_slug_taken)
            record(
                action="org.updated", actor=actor, target=locked, request=request, changes=changes
            )
    return locked


def org_archive(*, organization: Organization, actor: Any, request=None) -> Organization:
    """Archive (DELETE): members lose its roles and grants at once (``orgs.permissions``
    gives nothing in an archived organization); the data stays, readable by platform admins."""
    require(actor, "org:delete", organization, "Only an owner may archive the organization.")
    with transaction.atomic():
        locked = lock_organization(organization)
        if locked.status == Organization.Status.ARCHIVED:
            raise Conflict("organization_archived", "The organization is already archived.")
        before = locked.status
        now = timezone.now()
        locked.status = Organization.Status.ARCHIVED
        locked.archived_at = now
        locked.updated_at = now
        locked.save(update_fields=["status", "archived_at", "updated_at"])
        # Pending invitations die with it: nobody can join an archived organization.
        locked.invitations.filter(status="pending").update(
            status="canceled", token_digest="", decided_at=now
        )
        record(
            action="org.archived",
            actor=actor,
            target=locked,
            request=request,
            changes={"status": [before, Organization.Status.ARCHIVED]},
        )
        hooks.membership_ended(
            organization=locked,
            user_id=None,
            reason=REASON_ORG_ARCHIVED,
            actor=actor,
            request=request,
        )
    return locked
