"""SAML per organization over the API: ``GET/PUT /orgs/{id}/sso/saml`` and
``GET /orgs/{id}/sso/saml/metadata`` (``sso:manage``; API keys need ``orgs:read`` to read and
``orgs:write`` to change). Others' organizations are 404; members without ``sso:manage`` 403."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.permissions import HasScope
from config.api.serializers import StrictBooleanField, StrictCharField, StrictFieldsMixin
from orgs.api.base import ORG_PARAM, ORG_SCOPES, visible_organization
from orgs.models import Organization
from orgs.permissions import can
from orgs.saml import services
from orgs.saml.models import SamlConnection
from orgs.saml.provider import sp_metadata, sp_urls

METADATA_TYPE = "application/samlmetadata+xml"

ABOUT = (
    "Needs `sso:manage`. The organization's SAML identity provider (IdP): people whose "
    "email address is at one of `domains` are sent to the IdP from the sign-in page; their "
    "first SAML sign-in creates their account (or links an account whose address is "
    "verified) and makes them a `member` (a seat is needed). Give the IdP the values in "
    "`sp` (or the metadata URL). The IdP must sign its assertions; sign-ins the IdP starts "
    "on its own are refused."
)


class AttributeNames(serializers.ListField):
    child = StrictCharField(max_length=services.MAX_ATTRIBUTE_NAME_LENGTH)


class AttributeMappingSerializer(StrictFieldsMixin, serializers.Serializer):
    """Roster field -> the IdP attribute names to read it from, first found wins."""

    uid = AttributeNames(
        required=False,
        min_length=1,
        max_length=services.MAX_ATTRIBUTE_NAMES,
        help_text="The stable user id; without it, the NameID.",
    )
    email = AttributeNames(
        required=False,
        min_length=1,
        max_length=services.MAX_ATTRIBUTE_NAMES,
        help_text="Without it, a NameID in the emailAddress format.",
    )
    email_verified = AttributeNames(
        required=False, min_length=1, max_length=services.MAX_ATTRIBUTE_NAMES
    )
    first_name = AttributeNames(
        required=False, min_length=1, max_length=services.MAX_ATTRIBUTE_NAMES
    )
    last_name = AttributeNames(
        required=False, min_length=1, max_length=services.MAX_ATTRIBUTE_NAMES
    )
    username = AttributeNames(required=False, min_length=1, max_length=services.MAX_ATTRIBUTE_NAMES)


class SamlConnectionBody(StrictFieldsMixin, serializers.Serializer):
    idp_entity_id = StrictCharField(
        max_length=services.MAX_ENTITY_ID_LENGTH, help_text="The IdP's entity ID (issuer)."
    )
    idp_sso_url = StrictCharField(
        max_length=services.MAX_URL_LENGTH,
        help_text="The IdP's single sign-on URL (HTTP-Redirect binding); https, or http for "
        "localhost. 400 `invalid_url`.",
    )
    idp_x509_cert = StrictCharField(
        max_length=services.MAX_CERT_LENGTH,
        help_text="The IdP's signing certificate: PEM, or its base64 body. One certificate. "
        "400 `invalid_certificate`.",
    )
    attribute_mapping = AttributeMappingSerializer(
        required=False,
        help_text="Which IdP attributes fill which fields; empty or absent: allauth's "
        "defaults (OASIS subject-id, the usual email, given name and surname claims).",
    )
    domains = serializers.ListField(
        child=StrictCharField(max_length=253),
        max_length=services.MAX_DOMAINS,
        help_text="Verified domains of the organization whose addresses sign in through "
        "this IdP. 400 `unknown_domain` (not the organization's), `domain_not_verified`.",
    )
    enabled = StrictBooleanField(
        help_text="Sign-ins through this IdP are refused while false. Enabling needs at "
        "least one domain (400 `domains_required`)."
    )


class ServiceProviderSerializer(serializers.Serializer):
    entity_id = serializers.URLField(read_only=True, help_text="Roster's SP entity ID.")
    acs_url = serializers.URLField(
        read_only=True, help_text="Assertion consumer service (HTTP-POST binding)."
    )
    metadata_url = serializers.URLField(
        read_only=True, help_text="Roster's SP metadata, public (for the IdP to fetch)."
    )


class SamlConnectionAnswer(serializers.Serializer):
    configured = serializers.BooleanField(
        read_only=True, help_text="False until an IdP is stored; the IdP fields are null."
    )
    idp_entity_id = serializers.CharField(read_only=True, allow_null=True)
    idp_sso_url = serializers.CharField(read_only=True, allow_null=True)
    idp_x509_cert = serializers.CharField(read_only=True, allow_null=True)
    idp_x509_cert_sha256 = serializers.CharField(read_only=True, allow_null=True)
    idp_x509_cert_expires_at = serializers.DateTimeField(read_only=True, allow_null=True)
    attribute_mapping = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), read_only=True
    )
    domains = serializers.ListField(child=serializers.CharField(), read_only=True)
    enabled = serializers.BooleanField(read_only=True)
    sp = ServiceProviderSerializer(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


def _answer(request, organization: Organization) -> dict[str, Any]:
    connection = (
        SamlConnection.objects.filter(organization=organization).prefetch_related("domains").first()
    )
    data: dict[str, Any] = {
        "configured": connection is not None,
        "idp_entity_id": None,
        "idp_sso_url": None,
        "idp_x509_cert": None,
        "idp_x509_cert_sha256": None,
        "idp_x509_cert_expires_at": None,
        "attribute_mapping": {},
        "domains": [],
        "enabled": False,
        "sp": sp_urls(request, organization.pk),
        "updated_at": None,
    }
    if connection is not None:
        data.update(
            idp_entity_id=connection.idp_entity_id,
            idp_sso_url=connection.idp_sso_url,
            idp_x509_cert=connection.idp_x509_cert,
            idp_x509_cert_sha256=services.certificate_fingerprint(connection.idp_x509_cert),
            idp_x509_cert_expires_at=services.certificate_not_after(connection.idp_x509_cert),
            attribute_mapping=connection.attribute_mapping,
            domains=sorted(d.domain for d in connection.domains.all()),
            enabled=connection.enabled,
            updated_at=connection.updated_at,
        )
    return SamlConnectionAnswer(data).data


class _SamlView(APIView):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = ORG_SCOPES

    def organization(self, org_id: Any) -> Organization:
        org = visible_organization(self.request.user, org_id)
        if not can(self.request.user, services.PERMISSION, org):
            raise exceptions.PermissionDenied(f"This needs the permission {services.PERMISSION}.")
        return org


class SamlConnectionView(_SamlView):
    error_codes = {"put": {400: services.ERROR_CODES, 409: ["organization_inactive"]}}

    @extend_schema(
        summary="An organization's SAML identity provider",
        description=ABOUT,
        parameters=[ORG_PARAM],
        responses={200: SamlConnectionAnswer},
    )
    def get(self, request, org_id=None):
        return Response(_answer(request, self.organization(org_id)))

    @extend_schema(
        summary="Set an organization's SAML identity provider",
        description=ABOUT
        + " Replaces the whole configuration (`attribute_mapping` may be left out). Audited "
        "as `org.sso.saml.updated` with the values before and after (the certificate by its "
        "SHA-256 fingerprint). 409 `organization_inactive` for a suspended or archived "
        "organization.",
        parameters=[ORG_PARAM],
        request=SamlConnectionBody,
        responses={200: SamlConnectionAnswer},
    )
    def put(self, request, org_id=None):
        org = self.organization(org_id)
        body = SamlConnectionBody(data=request.data)
        body.is_valid(raise_exception=True)
        services.saml_connection_set(
            organization=org, actor=request.user, request=request, **body.validated_data
        )
        return Response(_answer(request, org))


class SamlMetadataView(_SamlView):
    @extend_schema(
        summary="Roster's SAML service provider metadata for an organization",
        description="Needs `sso:manage`. The XML to load into the IdP (entity ID, ACS URL, "
        "signed assertions wanted); the same document is public at `sp.metadata_url` once "
        "an IdP is stored. Available before the IdP is configured.",
        parameters=[ORG_PARAM],
        responses={
            (200, METADATA_TYPE): OpenApiResponse(
                OpenApiTypes.STR, description="SAML 2.0 EntityDescriptor."
            )
        },
    )
    def get(self, request, org_id=None):
        org = self.organization(org_id)
        return HttpResponse(sp_metadata(request, org.pk), content_type=METADATA_TYPE)
