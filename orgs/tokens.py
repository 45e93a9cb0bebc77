"""An access token's organization: its claims, and its end when the organization drops you.

Access tokens name one active organization (docs/api.md, "Tokens"): ``org`` (its id),
``org_roles`` (the member's role keys there) and ``permissions`` (what ``orgs.permissions``
says the member holds there, organization-wide). They are worked out when a token is minted
(token login, refresh) and never per request, so the JWT hot path stays free of SQL.

accounts sits below orgs and cannot ask: :func:`org_claims_for` is registered with
``accounts.hooks`` from ``OrgsConfig.ready()``. The other way round, orgs calls accounts'
revocation: a member removed or suspended, or the organization archived, ends at once every
API session whose tokens name that organization (``accounts.sessions.revoke_org_sessions``,
the revocation path of every session), so its next request is 401 ``token_revoked``.

Why no token outlives its membership: minting locks the membership row it reads, and the
services that end memberships lock the same rows before they look for sessions to revoke.
Either the mint commits first (and the revocation then finds its session), or it waits for
the change and finds no active membership.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from accounts import sessions
from accounts.hooks import ORGANIZATION_UNAVAILABLE, OrgClaims
from config.errors import Invalid
from orgs.models import SLUG_RE, Membership, Organization
from orgs.permissions import effective_permissions

_SLUG = re.compile(SLUG_RE)

REASON_MEMBER_REMOVED = "org_member_removed"
REASON_MEMBER_SUSPENDED = "org_member_suspended"
REASON_ORG_ARCHIVED = "org_archived"


def _unavailable() -> Invalid:
    # One answer for an unknown organization and one the caller may not use: no existence leak.
    return Invalid(
        ORGANIZATION_UNAVAILABLE,
        "You are not an active member of an organization with this id or slug.",
        attr="organization",
    )


def _find(reference: str) -> Organization | None:
    if not isinstance(reference, str):
        return None
    try:
        return Organization.objects.filter(pk=uuid.UUID(reference)).first()
    except ValueError:
        pass
    if _SLUG.fullmatch(reference) is None:
        return None
    return Organization.objects.filter(slug=reference).first()


def org_claims_for(*, user: Any, organization: str) -> OrgClaims:
    """The ``org``/``org_roles``/``permissions`` claims of ``user`` in ``organization`` (id
    or slug): an active membership of an organization that is not archived. Called inside the
    minting transaction; locks the membership row (see the module docstring)."""
    org = _find(organization)
    if org is None or org.status == Organization.Status.ARCHIVED:
        raise _unavailable()
    membership = (
        Membership.objects.select_for_update()
        .filter(organization=org, user_id=user.pk)
        .prefetch_related("roles")
        .first()
    )
    if membership is None or membership.status != Membership.Status.ACTIVE:
        raise _unavailable()
    # The organization again, now that the membership is locked: an archive that committed
    # while this waited is seen (it locks the memberships before revoking).
    org.refresh_from_db(fields=["status"])
    if org.status == Organization.Status.ARCHIVED:
        raise _unavailable()
    return OrgClaims(
        org=str(org.pk),
        org_roles=tuple(sorted(role.key for role in membership.roles.all())),
        permissions=tuple(sorted(effective_permissions(user, org))),
    )


def revoke_member_tokens(
    *, organization: Organization, user_id: Any, actor: Any, reason: str, request=None
) -> int:
    """End the API sessions of one member whose tokens name ``organization`` (removed,
    left, suspended). Call inside the service's transaction, membership row locked."""
    return sessions.revoke_org_sessions(
        organization_id=organization.pk,
        user_id=user_id,
        actor=actor,
        request=request,
        reason=reason,
    )


def revoke_organization_tokens(*, organization: Organization, actor: Any, request=None) -> int:
    """End every API session whose tokens name an archived ``organization``. Call inside the
    archive's transaction; the memberships are locked first (see the module docstring)."""
    list(
        Membership.objects.select_for_update()
        .filter(organization=organization)
        .values_list("pk", flat=True)
    )
    return sessions.revoke_org_sessions(
        organization_id=organization.pk,
        user_id=None,
        actor=actor,
        request=request,
        reason=REASON_ORG_ARCHIVED,
    )
