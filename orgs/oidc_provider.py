"""The ``orgs`` scope of Roster's OpenID Connect provider.

``accounts.oidc_provider.OIDCProviderAdapter`` runs the provider; accounts cannot know what
an organization is, so this subclass (named by ``IDP_OIDC_ADAPTER``) adds the scope. A
client granted ``orgs`` receives, in the ID token and from userinfo, the user's active
memberships of organizations that are not archived:

    "orgs": [{"id": "<uuid>", "slug": "acme", "name": "Acme", "roles": ["admin"]}, ...]

in the order the user joined them, roles sorted by key.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.oidc_provider import OIDCProviderAdapter
from orgs.models import Membership, Organization


def memberships_claim(*, user: Any) -> list[dict[str, Any]]:
    memberships = (
        Membership.objects.filter(user_id=user.pk, status=Membership.Status.ACTIVE)
        .exclude(organization__status=Organization.Status.ARCHIVED)
        .select_related("organization")
        .prefetch_related("roles")
        .order_by("joined_at", "id")
    )
    return [
        {
            "id": str(m.organization.pk),
            "slug": m.organization.slug,
            "name": m.organization.name,
            "roles": sorted(role.key for role in m.roles.all()),
        }
        for m in memberships
    ]


class OrgsOIDCProviderAdapter(OIDCProviderAdapter):
    scope_display = {
        **OIDCProviderAdapter.scope_display,
        "orgs": _("The organizations you belong to and your roles in them"),
    }
    extra_scopes = ("orgs",)

    def scope_claims(self, scope: str, *, user: Any) -> dict[str, Any]:
        if scope == "orgs":
            return {"orgs": memberships_claim(user=user)}
        return super().scope_claims(scope, user=user)
