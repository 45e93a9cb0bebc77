"""Access routes: with and without a trailing slash (no redirect, so POST bodies survive)."""

from django.urls import re_path

from access.api.views import (
    AccessCheck,
    AccessRequestViewSet,
    GrantRevoke,
    MyGrants,
    OrgGrants,
    ResourceViewSet,
)
from orgs.api.base import UUID_RE

ORG = rf"orgs/(?P<org_id>{UUID_RE})"
KEY = r"(?P<key>(?:org-role:)?[a-z][a-z0-9_.-]{0,62})"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view, name=name)


urlpatterns = [
    route(
        f"{ORG}/resources",
        ResourceViewSet.as_view({"get": "list", "post": "create"}),
        "access-resources",
    ),
    route(
        f"{ORG}/resources/{KEY}",
        ResourceViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        "access-resource",
    ),
    route(
        "access-requests",
        AccessRequestViewSet.as_view({"get": "list", "post": "create"}),
        "access-requests",
    ),
    route(
        rf"access-requests/(?P<request_id>{UUID_RE})/review",
        AccessRequestViewSet.as_view({"post": "review"}),
        "access-request-review",
    ),
    route(
        rf"access-requests/(?P<request_id>{UUID_RE})/cancel",
        AccessRequestViewSet.as_view({"post": "cancel"}),
        "access-request-cancel",
    ),
    route("users/me/grants", MyGrants.as_view({"get": "list"}), "my-grants"),
    route(f"{ORG}/grants", OrgGrants.as_view({"get": "list"}), "org-grants"),
    route(
        rf"grants/(?P<grant_id>{UUID_RE})/revoke",
        GrantRevoke.as_view({"post": "revoke"}),
        "grant-revoke",
    ),
    route("access/check", AccessCheck.as_view(), "access-check"),
]
