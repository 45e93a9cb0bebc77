"""SAML per organization routes, with and without a trailing slash (no redirect)."""

from django.urls import re_path

from orgs.api.base import UUID_RE
from orgs.saml.api import SamlConnectionView, SamlMetadataView

SSO = rf"orgs/(?P<org_id>{UUID_RE})/sso/saml"

urlpatterns = [
    re_path(rf"^{SSO}/?$", SamlConnectionView.as_view(), name="org-sso-saml"),
    re_path(rf"^{SSO}/metadata/?$", SamlMetadataView.as_view(), name="org-sso-saml-metadata"),
]
