"""Access pages (the API is in access/api/)."""

from django.urls import path

from access import views, views_org

ORG = "account/organizations/<uuid:org_id>/access/"

urlpatterns = [
    path("account/access/", views.access_home, name="access-home"),
    path("account/access/request/", views.request_new, name="access-request-new"),
    path("account/access/reviews/", views.reviews, name="access-reviews"),
    path("account/access/requests/<uuid:request_id>/", views.request_detail, name="access-request"),
    path(
        "account/access/requests/<uuid:request_id>/cancel/",
        views.request_cancel,
        name="access-request-cancel",
    ),
    path(
        "account/access/grants/<uuid:grant_id>/revoke/",
        views.grant_revoke,
        name="access-grant-revoke",
    ),
    path(ORG, views_org.org_resources, name="org-access-resources"),
    path(f"{ORG}resources/<str:key>/", views_org.org_resource_edit, name="org-access-resource"),
    path(
        f"{ORG}resources/<str:key>/delete/",
        views_org.org_resource_delete,
        name="org-access-resource-delete",
    ),
    path(f"{ORG}grants/", views_org.org_grants, name="org-access-grants"),
    path(f"{ORG}policies/", views_org.org_policies, name="org-access-policies"),
    path(f"{ORG}policies/<slug:policy_type>/", views_org.org_policy_edit, name="org-access-policy"),
]
