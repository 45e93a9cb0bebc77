"""Support routes: with and without a trailing slash (no redirect, so POST bodies survive)."""

from django.urls import re_path

from orgs.api.base import UUID_RE
from support.api.views import SupportTicketViewSet

TICKET = rf"support/tickets/(?P<ticket_id>{UUID_RE})"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view, name=name)


urlpatterns = [
    route(
        "support/tickets",
        SupportTicketViewSet.as_view({"get": "list", "post": "create"}),
        "support-tickets",
    ),
    route(
        TICKET,
        SupportTicketViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        "support-ticket",
    ),
    route(
        f"{TICKET}/messages",
        SupportTicketViewSet.as_view({"post": "messages"}),
        "support-ticket-messages",
    ),
    route(
        f"{TICKET}/attachments",
        SupportTicketViewSet.as_view({"post": "attachments"}),
        "support-ticket-attachments",
    ),
    route(
        rf"{TICKET}/attachments/(?P<attachment_id>{UUID_RE})",
        SupportTicketViewSet.as_view({"get": "attachment"}),
        "support-attachment",
    ),
]
