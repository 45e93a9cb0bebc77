"""The notification bell of every signed-in page (``templates/base.html``)."""

from __future__ import annotations

from django import template

from notifications.selectors import unread_count

register = template.Library()


@register.inclusion_tag("notifications/includes/bell.html", takes_context=True)
def notification_bell(context) -> dict:
    """The unread count (one query), only for a signed-in user: anonymous pages ask nothing."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"show": False}
    return {"show": True, "unread": unread_count(request.user)}
