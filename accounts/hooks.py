"""What the apps above accounts add to a whole-account export and do on an erasure.

``accounts`` sits below ``slots`` and ``usage`` (and the apps to come) in the layer order
(docs/architecture.md), so it never imports them; yet a person's data export must hold their
slots and usage, and erasing a person must release their slots. The higher apps say so here,
from their ``AppConfig.ready()``:

    register_export_section("slots", slots_export_for_user)   # build(*, user) -> JSON-able
    register_erasure_step(slots_release_owned)                # step(*, user) -> None

The export (``accounts.export.user_export``) writes the sections in registration order,
which is ``INSTALLED_APPS`` order, after the account's own sections and before its audit
events. The erasure (``accounts.services.erasure.user_erase``) runs the steps inside its
transaction, with the user row locked, after the account's access is revoked and before its
personal data goes; a step that raises rolls the whole erasure back, and the task retries it.

Access tokens name an active organization (claims ``org``, ``org_roles``, ``permissions``),
yet accounts cannot know what an organization is. The orgs app registers the one function
that answers, from its ``AppConfig.ready()``:

    register_org_claims(org_claims_for)   # provider(*, user, organization) -> OrgClaims

``organization`` is the id or slug the client sent (or the id a session remembers). The
provider returns the claims, or raises ``config.errors.Invalid`` when the user may not act
in that organization. Token login and refresh call it inside their transaction, so the
provider may lock what it reads. Revocation goes the other way: orgs calls
``accounts.sessions.revoke_org_sessions`` when a member leaves or the organization is
archived.

Sign-in providers whose apps an app above accounts keeps (an organization's SAML identity
provider) are handed to allauth through the social account adapter's ``list_apps``:

    register_social_apps(saml_apps)   # source(*, provider, client_id) -> [SocialApp]

``provider`` and ``client_id`` are allauth's filters (either may be None); a source returns
unsaved ``SocialApp`` instances, as allauth builds those of ``SOCIALACCOUNT_PROVIDERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.errors import Invalid

ExportSection = Callable[..., Any]
ErasureStep = Callable[..., Any]

_export_sections: dict[str, ExportSection] = {}
_erasure_steps: list[ErasureStep] = []

# The API error code of an organization a token cannot name (unknown, not a member, ...).
ORGANIZATION_UNAVAILABLE = "organization_unavailable"


@dataclass(frozen=True)
class OrgClaims:
    """What an access token says about its active organization."""

    org: str  # the organization's id
    org_roles: tuple[str, ...]
    permissions: tuple[str, ...]

    def as_claims(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "org_roles": list(self.org_roles),
            "permissions": list(self.permissions),
        }


OrgClaimsProvider = Callable[..., OrgClaims]
_org_claims: list[OrgClaimsProvider] = []

SocialAppSource = Callable[..., list]
_social_app_sources: list[SocialAppSource] = []


def register_export_section(name: str, build: ExportSection) -> None:
    """Add ``name: build(user=user)`` to every account export."""
    if name in _export_sections and _export_sections[name] is not build:
        raise ValueError(f"The export section {name!r} is already registered.")
    _export_sections[name] = build


def register_erasure_step(step: ErasureStep) -> None:
    """Run ``step(user=locked_user)`` in every account erasure."""
    if step not in _erasure_steps:
        _erasure_steps.append(step)


def export_sections(*, user) -> dict[str, Any]:
    return {name: build(user=user) for name, build in _export_sections.items()}


def run_erasure_steps(*, user) -> None:
    for step in _erasure_steps:
        step(user=user)


def register_org_claims(provider: OrgClaimsProvider) -> None:
    """Make ``provider(user=, organization=)`` the one source of a token's organization
    claims (there is one: a second, different provider is an error)."""
    if _org_claims and _org_claims[0] is not provider:
        raise ValueError("An organization claims provider is already registered.")
    if not _org_claims:
        _org_claims.append(provider)


def org_claims(*, user, organization: str) -> OrgClaims:
    """The claims of ``user``'s access tokens in ``organization`` (an id or a slug); raises
    ``Invalid(ORGANIZATION_UNAVAILABLE)`` when there is none to give."""
    if not _org_claims:
        raise Invalid(
            ORGANIZATION_UNAVAILABLE,
            "Organizations are not available here.",
            attr="organization",
        )
    return _org_claims[0](user=user, organization=organization)


def register_social_apps(source: SocialAppSource) -> None:
    """Add ``source(provider=, client_id=)`` to the sign-in apps allauth knows."""
    if source not in _social_app_sources:
        _social_app_sources.append(source)


def social_apps(*, provider: str | None, client_id: str | None) -> list:
    return [
        app
        for source in _social_app_sources
        for app in source(provider=provider, client_id=client_id)
    ]
