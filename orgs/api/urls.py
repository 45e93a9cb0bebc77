"""Organization routes: both ``/orgs`` and ``/orgs/`` (no redirect, so POST bodies survive)."""

from django.urls import include, re_path

from orgs.api.base import UUID_RE
from orgs.api.views_invitations import (
    InvitationAccept,
    InvitationDecline,
    MyInvitations,
    OrgInvitationViewSet,
)
from orgs.api.views_members import MemberViewSet, MyPermissions, RoleViewSet
from orgs.api.views_orgs import (
    DomainViewSet,
    OrganizationViewSet,
    PermissionCatalogue,
    PlanList,
    TenantOnboard,
)
from orgs.api.views_teams import OrgTeamViewSet, TeamMemberViewSet, TeamViewSet

ORG = rf"orgs/(?P<org_id>{UUID_RE})"
TEAM = rf"teams/(?P<team_id>{UUID_RE})"
USER = rf"(?P<user_id>{UUID_RE})"
INVITATION = rf"(?P<invitation_id>{UUID_RE})"
ROLE_KEY = r"(?P<key>[a-z][a-z0-9_-]{0,39})"
DOMAIN = r"(?P<domain>[A-Za-z0-9.-]{1,253})"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view, name=name)


urlpatterns = [
    route("orgs", OrganizationViewSet.as_view({"get": "list", "post": "create"}), "org-list"),
    route(
        rf"orgs/(?P<pk>{UUID_RE})",
        OrganizationViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        "org-detail",
    ),
    route(
        f"{ORG}/members", MemberViewSet.as_view({"get": "list", "post": "create"}), "org-members"
    ),
    route(
        f"{ORG}/members/{USER}",
        MemberViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        "org-member",
    ),
    route(
        f"{ORG}/members/{USER}/permissions",
        MemberViewSet.as_view(
            {"get": "permissions", "post": "update_permissions"}, pagination_class=None
        ),
        "org-member-permissions",
    ),
    route(f"{ORG}/roles", RoleViewSet.as_view({"get": "list", "post": "create"}), "org-roles"),
    route(
        f"{ORG}/roles/{ROLE_KEY}",
        RoleViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        "org-role",
    ),
    route(f"{ORG}/teams", OrgTeamViewSet.as_view({"get": "list", "post": "create"}), "org-teams"),
    route(
        TEAM,
        TeamViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        "team-detail",
    ),
    route(
        f"{TEAM}/members",
        TeamMemberViewSet.as_view({"get": "list", "post": "create"}),
        "team-members",
    ),
    route(
        f"{TEAM}/members/{USER}",
        TeamMemberViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        "team-member",
    ),
    route(
        f"{ORG}/invitations",
        OrgInvitationViewSet.as_view({"get": "list", "post": "create"}),
        "org-invitations",
    ),
    route(
        f"{ORG}/invitations/bulk",
        OrgInvitationViewSet.as_view({"post": "bulk"}),
        "org-invitations-bulk",
    ),
    route(
        f"{ORG}/invitations/{INVITATION}",
        OrgInvitationViewSet.as_view({"delete": "destroy"}),
        "org-invitation",
    ),
    route(
        f"{ORG}/invitations/{INVITATION}/resend",
        OrgInvitationViewSet.as_view({"post": "resend"}),
        "org-invitation-resend",
    ),
    route(f"invitations/{INVITATION}/accept", InvitationAccept.as_view(), "invitation-accept"),
    route(f"invitations/{INVITATION}/decline", InvitationDecline.as_view(), "invitation-decline"),
    route("users/me/invitations", MyInvitations.as_view(), "my-invitations"),
    route("users/me/permissions", MyPermissions.as_view(), "my-permissions"),
    route(
        f"{ORG}/domains", DomainViewSet.as_view({"get": "list", "post": "create"}), "org-domains"
    ),
    route(
        f"{ORG}/domains/{DOMAIN}",
        DomainViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        "org-domain",
    ),
    route(
        f"{ORG}/domains/{DOMAIN}/verify",
        DomainViewSet.as_view({"post": "verify"}),
        "org-domain-verify",
    ),
    route("plans", PlanList.as_view(), "plans"),
    route("permissions", PermissionCatalogue.as_view(), "permission-catalogue"),
    route("admin/tenants", TenantOnboard.as_view(), "admin-tenants"),
    re_path("", include("orgs.saml.api_urls")),
]
