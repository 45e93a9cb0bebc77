"""SAML pages: single sign-on from the sign-in page, and an organization's SSO settings."""

from django.urls import path

from orgs.saml import views

urlpatterns = [
    path("accounts/sso/", views.sso_sign_in, name="sso-sign-in"),
    path(
        "account/organizations/<uuid:org_id>/sso/",
        views.sso_settings,
        name="org-sso",
    ),
]
