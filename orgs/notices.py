"""The notifications the organizations send: an invitation received, a membership or its
roles changed, a team membership changed. Called by ``orgs.services`` inside their
transactions, so a notice commits with its change; nobody is told of what they did
themself."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from notifications.kinds import Kind
from notifications.services import notify
from orgs.models import Invitation, Organization, Team


def _is_self(user: Any, actor: Any) -> bool:
    return actor is not None and str(getattr(actor, "pk", "")) == str(getattr(user, "pk", user))


def invitation_received(invitation: Invitation, *, actor: Any) -> None:
    """The invitee, when an account has proven the invited address (the invitation page lets
    only them accept). The link's secret is in the email only, never here."""
    addresses = EmailAddress.objects.filter(
        email__iexact=invitation.email, verified=True, user__is_active=True
    ).select_related("user")
    organization = invitation.organization
    for address in addresses:
        if _is_self(address.user, actor):
            continue
        notify(
            address.user,
            Kind.INVITATION_RECEIVED,
            format_lazy(
                _("You are invited to join {organization}"), organization=organization.name
            ),
            _("Open the invitation email to accept or decline."),
            data={
                "invitation_id": str(invitation.pk),
                "organization_id": str(organization.pk),
                "organization_name": organization.name,
                "expires_at": invitation.expires_at.isoformat(),
            },
            from_user=actor if getattr(actor, "is_authenticated", False) else None,
        )


def membership_change_of(changes: dict[str, list]) -> str:
    """The change a member is told of, from a member update's ``{field: [before, after]}``:
    a status move first (it matters more), else the roles."""
    if "status" in changes:
        return "suspended" if changes["status"][1] == "suspended" else "reactivated"
    return "roles_changed"


def membership_changed(
    *, organization: Organization, user: Any, actor: Any, change: str, roles: list[str] = ()
) -> None:
    """``change``: ``added``, ``roles_changed``, ``suspended``, ``reactivated``, ``removed``."""
    if _is_self(user, actor):
        return
    titles = {
        "added": _("You were added to {organization}"),
        "roles_changed": _("Your roles in {organization} changed"),
        "suspended": _("Your membership of {organization} was suspended"),
        "reactivated": _("Your membership of {organization} is active again"),
        "removed": _("You were removed from {organization}"),
    }
    notify(
        user,
        Kind.MEMBERSHIP_CHANGED,
        format_lazy(titles[change], organization=organization.name),
        format_lazy(_("Your roles: {roles}."), roles=", ".join(roles))
        if roles and change != "removed"
        else "",
        data={
            "organization_id": str(organization.pk),
            "organization_name": organization.name,
            "change": change,
            "roles": list(roles),
        },
    )


def team_membership_changed(*, team: Team, user: Any, actor: Any, change: str, role: str) -> None:
    """``change``: ``added``, ``updated``, ``removed``."""
    if _is_self(user, actor):
        return
    titles = {
        "added": _("You joined the team {team}"),
        "updated": _("Your place in the team {team} changed"),
        "removed": _("You left the team {team}"),
    }
    notify(
        user,
        Kind.TEAM_MEMBERSHIP_CHANGED,
        format_lazy(titles[change], team=team.name),
        format_lazy(_("Your team role: {role}."), role=role) if change != "removed" else "",
        data={
            "organization_id": str(team.organization_id),
            "team_id": str(team.pk),
            "team_name": team.name,
            "change": change,
            "role": role,
        },
    )
