"""Organizations' SAML connections in the admin console: read-only. A change goes through
the organization's Single sign-on page (platform admins hold every organization
permission), which runs orgs.saml.services with its checks and audit event."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from audit.admin_mixins import ReadOnlyModelAdmin
from orgs.saml.models import SamlConnection
from orgs.saml.services import certificate_fingerprint


@admin.register(SamlConnection)
class SamlConnectionAdmin(ReadOnlyModelAdmin):
    list_display = ("organization", "idp_entity_id", "enabled", "updated_at")
    list_filter = ("enabled",)
    list_select_related = ("organization",)
    search_fields = ("organization__slug", "organization__name", "idp_entity_id")
    fields = (
        "organization",
        "idp_entity_id",
        "idp_sso_url",
        "certificate_sha256",
        "attribute_mapping",
        "domain_names",
        "enabled",
        "updated_at",
        "settings_page",
    )
    readonly_fields = fields

    @admin.display(description="certificate SHA-256")
    def certificate_sha256(self, obj: SamlConnection) -> str:
        return certificate_fingerprint(obj.idp_x509_cert)

    @admin.display(description="domains")
    def domain_names(self, obj: SamlConnection) -> str:
        return ", ".join(sorted(d.domain for d in obj.domains.all()))

    @admin.display(description="change")
    def settings_page(self, obj: SamlConnection) -> str:
        url = reverse("org-sso", args=[obj.organization_id])
        return format_html('<a href="{}">The organization\'s single sign-on page</a>', url)
