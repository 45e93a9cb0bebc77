"""An organization's SAML identity provider. Fields only; written by orgs.saml.services."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from orgs.models import Organization, OrganizationDomain


class SamlConnection(models.Model):
    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="saml_connection"
    )
    idp_entity_id = models.CharField(max_length=1024)
    idp_sso_url = models.URLField(max_length=2048)
    # The IdP's signing certificate (public), PEM as given, checked to parse.
    idp_x509_cert = models.TextField()
    # allauth's attribute mapping: Roster field -> IdP attribute name(s); empty: allauth's.
    attribute_mapping = models.JSONField(default=dict, blank=True)
    # The verified domains whose addresses this IdP may sign in (a removed domain drops out).
    domains = models.ManyToManyField(OrganizationDomain, blank=True, related_name="+")
    enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "orgs"
        verbose_name = "SAML connection"

    def __str__(self) -> str:
        return f"SAML of {self.organization_id}"
