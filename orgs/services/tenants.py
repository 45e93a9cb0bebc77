"""Tenant onboarding (``POST /admin/tenants``): the organization, its verified domain, its
plan's seats and features, and its first owner, in one transaction, idempotent by key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from audit.services import record
from config.errors import Conflict, Forbidden, Invalid
from orgs.catalogue import OWNER_ROLE
from orgs.models import Organization, OrganizationDomain, Plan, TenantOnboarding
from orgs.permissions import is_platform_admin
from orgs.selectors import organization_as_dict
from orgs.services.domains import clean_domain, domain_add
from orgs.services.invitations import invitation_create
from orgs.services.members import member_add
from orgs.services.organizations import org_create, slug_from_name
from orgs.services.rules import clean_email, clean_text

KEY_MAX = 200


class _DryRun(Exception):
    def __init__(self, response: dict):
        self.response = response


def _fingerprint(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _clean(data: dict) -> tuple[dict, Plan]:
    plan = Plan.objects.filter(key=data.get("subscription_plan"), is_active=True).first()
    if plan is None:
        raise Invalid("unknown_plan", "No such plan.", attr="subscription_plan")
    features = data.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise Invalid("invalid", "Expected a list of feature keys.", attr="features")
    outside = sorted(set(features) - set(plan.features))
    if outside:
        raise Invalid(
            "feature_not_in_plan",
            f"Not in the {plan.key} plan: {', '.join(outside)}.",
            attr="features",
        )
    count = data.get("initial_user_count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise Invalid("invalid", "A whole number of at least 1.", attr="initial_user_count")
    if count > plan.seat_limit:
        raise Invalid(
            "exceeds_plan",
            f"The {plan.key} plan has {plan.seat_limit} seats.",
            attr="initial_user_count",
        )
    clean = {
        "company_name": clean_text(
            data.get("company_name"), attr="company_name", max_length=100, required=True
        ),
        "company_domain": clean_domain(data.get("company_domain"), attr="company_domain"),
        "admin_email": clean_email(data.get("admin_email"), attr="admin_email"),
        "subscription_plan": plan.key,
        "initial_user_count": count,
        "features": sorted(set(features)) if features else sorted(plan.features),
    }
    return clean, plan


def _free_slug(name: str) -> str:
    base = slug_from_name(name)[:44].strip("-") or "org"
    taken = set(Organization.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    for n in range(2, 10000):
        candidate = f"{base}-{n}"
        if candidate not in taken:
            return candidate
    raise Conflict("slug_taken", "No free slug for this company name.")


def tenant_onboard(
    *,
    data: dict,
    actor: Any,
    idempotency_key: str | None = None,
    dry_run: bool = False,
    request=None,
) -> tuple[dict, bool]:
    """(answer, created). The same key with the same content gives the first answer again
    (``created`` False); with different content 409 ``idempotency_conflict``. ``dry_run``
    validates and returns what would be created, writing nothing. (Over 60 lines on purpose:
    the replay check, the one transaction and its answer read best as one sequence.)"""
    if actor is not None and not is_platform_admin(actor):
        raise Forbidden(detail="Only platform admins onboard tenants.")
    if idempotency_key is not None:
        idempotency_key = clean_text(
            idempotency_key, attr="idempotency_key", max_length=KEY_MAX, required=True
        )
    clean, plan = _clean(data)
    fingerprint = _fingerprint(clean)
    if idempotency_key is not None and not dry_run:
        replay = _replay(idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    try:
        with transaction.atomic():
            org, owner = _create_tenant(clean, plan, actor=actor, request=request)
            response = {
                "organization": organization_as_dict(org),
                "owner": owner,
                "plan": plan.key,
                "seat_limit": org.seat_limit,
                "dry_run": dry_run,
            }
            record(
                action="tenant.onboarded",
                actor=actor,
                target=org,
                request=request,
                metadata={
                    "plan": plan.key,
                    "seat_limit": org.seat_limit,
                    "idempotency_key": idempotency_key,
                    "owner_joined": owner["user"] is not None,
                },
            )
            if dry_run:
                raise _DryRun(response)
            if idempotency_key is not None:
                with transaction.atomic():
                    TenantOnboarding.objects.create(
                        key=idempotency_key,
                        fingerprint=fingerprint,
                        organization=org,
                        response=response,
                    )
    except _DryRun as done:
        return done.response, False
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as a replay.
        replay = _replay(idempotency_key, fingerprint) if idempotency_key else None
        if replay is None:
            raise
        return replay, False
    return response, True


def _create_tenant(
    clean: dict, plan: Plan, *, actor: Any, request
) -> tuple[Organization, dict[str, str | None]]:
    """The organization, its verified domain and its first owner (joined or invited), inside
    the caller's transaction."""
    if OrganizationDomain.objects.filter(domain=clean["company_domain"]).exists():
        raise Conflict("domain_taken", "The domain belongs to an organization.", "company_domain")
    org = org_create(
        name=clean["company_name"],
        slug=_free_slug(clean["company_name"]),
        actor=actor,
        owner=None,
        plan=plan,
        seat_limit=clean["initial_user_count"],
        features=clean["features"],
        request=request,
    )
    domain_add(
        organization=org,
        actor=actor,
        domain=clean["company_domain"],
        verified=True,
        request=request,
    )
    owner: dict[str, str | None] = {"user": None, "invitation": None}
    existing = (
        get_user_model().objects.filter(email__iexact=clean["admin_email"], status="active").first()
    )
    if existing is not None:
        member_add(
            organization=org, actor=actor, user=existing, roles=[OWNER_ROLE], request=request
        )
        owner["user"] = str(existing.pk)
    else:
        invitation, _raw = invitation_create(
            organization=org,
            actor=actor,
            email=clean["admin_email"],
            roles=[OWNER_ROLE],
            request=request,
        )
        owner["invitation"] = str(invitation.pk)
    org.refresh_from_db()
    return org, owner


def _replay(key: str, fingerprint: str) -> dict | None:
    previous = TenantOnboarding.objects.filter(key=key).first()
    if previous is None:
        return None
    if previous.fingerprint != fingerprint:
        raise Conflict(
            "idempotency_conflict",
            "This idempotency key was used with different content.",
            attr="idempotency_key",
        )
    return previous.response
