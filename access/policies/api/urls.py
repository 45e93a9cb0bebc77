"""Security policy routes, one per policy type (each with its own schema), and 404 for any
other type; with and without a trailing slash (no redirect)."""

from django.urls import re_path

from access.policies.api.views import UnknownPolicyView, org_view, platform_view
from access.policies.types import POLICY_TYPES
from orgs.api.base import UUID_RE

PLATFORM = r"admin/security/policies"
ORG = rf"orgs/(?P<org_id>{UUID_RE})/policies"

urlpatterns = [
    *(
        re_path(rf"^{PLATFORM}/{t}/?$", platform_view(t).as_view(), name=f"platform-policy-{t}")
        for t in POLICY_TYPES
    ),
    *(
        re_path(rf"^{ORG}/{t}/?$", org_view(t).as_view(), name=f"org-policy-{t}")
        for t in POLICY_TYPES
    ),
    re_path(rf"^(?:{PLATFORM}|{ORG})/[^/]+/?$", UnknownPolicyView.as_view(), name="policy-unknown"),
]
