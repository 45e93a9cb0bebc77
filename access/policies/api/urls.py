"""Security policy routes: with and without a trailing slash (no redirect)."""

from django.urls import re_path

from access.policies.api.views import OrgPolicyView, PlatformPolicyView
from orgs.api.base import UUID_RE

TYPE = r"(?P<policy_type>[a-z][a-z_]{0,19})"

urlpatterns = [
    re_path(
        rf"^admin/security/policies/{TYPE}/?$",
        PlatformPolicyView.as_view(),
        name="platform-policy",
    ),
    re_path(
        rf"^orgs/(?P<org_id>{UUID_RE})/policies/{TYPE}/?$",
        OrgPolicyView.as_view(),
        name="org-policy",
    ),
]
