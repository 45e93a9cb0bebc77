"""Organization pages (the API is in orgs/api/)."""

from django.urls import path

from orgs import views, views_invitations, views_teams

ORG = "account/organizations/<uuid:org_id>/"

urlpatterns = [
    path("invitations/<uuid:invitation_id>/", views_invitations.invitation, name="org-invitation"),
    path("account/organizations/", views.organization_list, name="org-list"),
    path("account/organizations/switch/", views.organization_switch, name="org-switch"),
    path(ORG, views.organization_detail, name="org-detail"),
    path(f"{ORG}members/<uuid:user_id>/", views.member_detail, name="org-member"),
    path(
        f"{ORG}members/<uuid:user_id>/remove/",
        views.member_remove_view,
        name="org-member-remove",
    ),
    path(f"{ORG}teams/", views_teams.team_list, name="org-teams"),
    path(f"{ORG}teams/<uuid:team_id>/", views_teams.team_detail, name="org-team"),
    path(
        f"{ORG}teams/<uuid:team_id>/members/<uuid:user_id>/remove/",
        views_teams.team_member_remove_view,
        name="org-team-member-remove",
    ),
    path(
        f"{ORG}teams/<uuid:team_id>/members/<uuid:user_id>/role/",
        views_teams.team_member_role_view,
        name="org-team-member-role",
    ),
    path(f"{ORG}invitations/", views_invitations.invitation_list, name="org-invitations"),
    path(
        f"{ORG}invitations/<uuid:invitation_id>/<str:action>/",
        views_invitations.invitation_action,
        name="org-invitation-action",
    ),
    path(f"{ORG}roles/", views.role_list, name="org-roles"),
    path(f"{ORG}roles/<slug:key>/delete/", views.role_delete_view, name="org-role-delete"),
    path(f"{ORG}domains/", views.domain_list, name="org-domains"),
    path(f"{ORG}domains/<str:domain>/remove/", views.domain_remove_view, name="org-domain-remove"),
]
