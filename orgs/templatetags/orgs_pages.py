"""The organization parts of every account page: the active organization in the site
navigation and the banner for pending invitations (``templates/base.html`` includes them)."""

from __future__ import annotations

from django import template

from orgs.selectors import pending_invitations_for
from orgs.views import active_organization

register = template.Library()


@register.inclusion_tag("orgs/includes/nav.html", takes_context=True)
def organization_nav(context) -> dict:
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"show": False}
    return {"show": True, "active": active_organization(request)}


@register.inclusion_tag("orgs/includes/invitation_banner.html", takes_context=True)
def invitation_banner(context) -> dict:
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"count": 0}
    return {"count": pending_invitations_for(request.user).count()}
