"""Setting an organization's SAML identity provider (``sso:manage``): every door (API, the
organization's SSO page, the Django admin) calls :func:`saml_connection_set`.

The whole configuration is replaced at once, after every value is checked: the certificate
parses as an X.509 certificate (PEM, or its bare base64 body as IdPs often show it), the URL
is an absolute https URL (http only for a loopback host), the attribute mapping names only
fields allauth's SAML provider reads, and every domain is one of the organization's verified
domains. Audited as ``org.sso.saml.updated`` with the values before and after; the
certificate is public, yet the audit keeps its SHA-256 fingerprint rather than the text.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from audit.services import record
from config.errors import Invalid
from orgs.models import Organization, OrganizationDomain
from orgs.saml.models import SamlConnection
from orgs.services.domains import clean_domain
from orgs.services.rules import ensure_writable, lock_organization, require

PERMISSION = "sso:manage"

# allauth's SAML provider reads these keys of an attribute mapping (provider._extract).
MAPPED_FIELDS = ("uid", "email", "email_verified", "first_name", "last_name", "username")
MAX_ATTRIBUTE_NAMES = 10
MAX_ATTRIBUTE_NAME_LENGTH = 512
MAX_ENTITY_ID_LENGTH = 1024
MAX_URL_LENGTH = 2048
MAX_CERT_LENGTH = 16384
MAX_DOMAINS = 100

INVALID_CERTIFICATE = "invalid_certificate"
INVALID_URL = "invalid_url"
INVALID_ENTITY_ID = "invalid_entity_id"
UNKNOWN_ATTRIBUTE = "unknown_attribute"
INVALID_ATTRIBUTE_MAPPING = "invalid_attribute_mapping"
UNKNOWN_DOMAIN = "unknown_domain"
DOMAIN_NOT_VERIFIED = "domain_not_verified"
DOMAINS_REQUIRED = "domains_required"
ERROR_CODES = [
    INVALID_ENTITY_ID,
    INVALID_URL,
    INVALID_CERTIFICATE,
    UNKNOWN_ATTRIBUTE,
    INVALID_ATTRIBUTE_MAPPING,
    UNKNOWN_DOMAIN,
    DOMAIN_NOT_VERIFIED,
    DOMAINS_REQUIRED,
]

_PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----"
)
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def clean_entity_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(INVALID_ENTITY_ID, "Give the IdP's entity ID.", attr="idp_entity_id")
    value = value.strip()
    if len(value) > MAX_ENTITY_ID_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise Invalid(
            INVALID_ENTITY_ID,
            f"An entity ID is a URI of at most {MAX_ENTITY_ID_LENGTH} characters, no spaces.",
            attr="idp_entity_id",
        )
    return value


def clean_sso_url(value: Any) -> str:
    detail = "An absolute https URL (http only for localhost)."
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise Invalid(INVALID_URL, detail, attr="idp_sso_url")
    value = value.strip()
    try:
        URLValidator(schemes=["https", "http"])(value)
    except ValidationError:
        raise Invalid(INVALID_URL, detail, attr="idp_sso_url") from None
    parts = urlsplit(value)
    if parts.scheme == "http" and (parts.hostname or "") not in _LOOPBACK:
        raise Invalid(INVALID_URL, detail, attr="idp_sso_url")
    return value


def clean_certificate(value: Any) -> str:
    """The certificate as PEM, one header, 64-character lines."""
    detail = "Paste the IdP's signing certificate (PEM, or its base64 body)."
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CERT_LENGTH:
        raise Invalid(INVALID_CERTIFICATE, detail, attr="idp_x509_cert")
    text = value.strip()
    pems = _PEM_RE.findall(text)
    if len(pems) > 1:
        raise Invalid(
            INVALID_CERTIFICATE, "Give one certificate, not a chain.", attr="idp_x509_cert"
        )
    body = pems[0] if pems else text
    if not pems and "-----" in text:
        raise Invalid(INVALID_CERTIFICATE, detail, attr="idp_x509_cert")
    body = "".join(body.split())
    try:
        der = base64.b64decode(body, validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise Invalid(INVALID_CERTIFICATE, detail, attr="idp_x509_cert") from None
    encoded = base64.b64encode(der).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    del cert
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def certificate_fingerprint(pem: str) -> str:
    """SHA-256 fingerprint of a stored (valid) certificate, as IdP consoles show it."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def certificate_not_after(pem: str):
    return x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc


def clean_attribute_mapping(value: Any) -> dict[str, list[str]]:
    attr = "attribute_mapping"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(INVALID_ATTRIBUTE_MAPPING, "Expected an object.", attr=attr)
    mapping: dict[str, list[str]] = {}
    for key, names in value.items():
        if key not in MAPPED_FIELDS:
            raise Invalid(
                UNKNOWN_ATTRIBUTE,
                f"Map only {', '.join(MAPPED_FIELDS)}.",
                attr=f"{attr}.{str(key)[:40]}",
            )
        if isinstance(names, str):
            names = [names]
        if (
            not isinstance(names, list)
            or not 1 <= len(names) <= MAX_ATTRIBUTE_NAMES
            or not all(
                isinstance(n, str) and 0 < len(n.strip()) <= MAX_ATTRIBUTE_NAME_LENGTH
                for n in names
            )
        ):
            raise Invalid(
                INVALID_ATTRIBUTE_MAPPING,
                f"An attribute name, or a list of 1 to {MAX_ATTRIBUTE_NAMES} names "
                f"(at most {MAX_ATTRIBUTE_NAME_LENGTH} characters each).",
                attr=f"{attr}.{key}",
            )
        mapping[key] = [n.strip() for n in names]
    return mapping


def clean_domains(organization: Organization, value: Any) -> list[OrganizationDomain]:
    attr = "domains"
    if not isinstance(value, list) or len(value) > MAX_DOMAINS:
        raise Invalid("invalid", f"Expected a list of at most {MAX_DOMAINS} domains.", attr=attr)
    names = []
    for i, item in enumerate(value):
        domain = clean_domain(item, attr=f"{attr}.{i}")
        if domain not in names:
            names.append(domain)
    rows = {d.domain: d for d in organization.domains.filter(domain__in=names)}
    for i, name in enumerate(names):
        row = rows.get(name)
        if row is None:
            raise Invalid(
                UNKNOWN_DOMAIN,
                f"{name} is not a domain of this organization; add and verify it first.",
                attr=f"{attr}.{i}",
            )
        if not row.verified:
            raise Invalid(
                DOMAIN_NOT_VERIFIED,
                f"{name} is not verified yet; only verified domains can use single sign-on.",
                attr=f"{attr}.{i}",
            )
    return [rows[name] for name in names]


def _snapshot(connection: SamlConnection | None) -> dict[str, Any] | None:
    if connection is None:
        return None
    return {
        "idp_entity_id": connection.idp_entity_id,
        "idp_sso_url": connection.idp_sso_url,
        "idp_x509_cert_sha256": certificate_fingerprint(connection.idp_x509_cert),
        "attribute_mapping": connection.attribute_mapping,
        "domains": sorted(d.domain for d in connection.domains.all()),
        "enabled": connection.enabled,
    }


def saml_connection_set(
    *,
    organization: Organization,
    actor: Any,
    idp_entity_id: Any,
    idp_sso_url: Any,
    idp_x509_cert: Any,
    domains: Any,
    enabled: Any,
    attribute_mapping: Any = None,
    request=None,
) -> SamlConnection:
    """Replace the organization's SAML configuration (created on first use)."""
    require(actor, PERMISSION, organization)
    values = {
        "idp_entity_id": clean_entity_id(idp_entity_id),
        "idp_sso_url": clean_sso_url(idp_sso_url),
        "idp_x509_cert": clean_certificate(idp_x509_cert),
        "attribute_mapping": clean_attribute_mapping(attribute_mapping),
    }
    if not isinstance(enabled, bool):
        raise Invalid("invalid", "Expected true or false.", attr="enabled")
    with transaction.atomic():
        locked = lock_organization(organization)
        ensure_writable(locked)
        domain_rows = clean_domains(locked, domains)
        if enabled and not domain_rows:
            raise Invalid(
                DOMAINS_REQUIRED,
                "Name at least one verified domain whose people sign in through this IdP.",
                attr="domains",
            )
        connection = SamlConnection.objects.select_for_update().filter(organization=locked).first()
        before = _snapshot(connection)
        if connection is None:
            connection = SamlConnection(organization=locked)
        for field, value in values.items():
            setattr(connection, field, value)
        connection.enabled = enabled
        connection.updated_at = timezone.now()
        connection.save()
        connection.domains.set(domain_rows)
        after = _snapshot(connection)
        changes = {
            key: [before.get(key) if before else None, value]
            for key, value in after.items()
            if before is None or before.get(key) != value
        }
        record(
            action="org.sso.saml.updated",
            actor=actor,
            target=locked,
            request=request,
            changes=changes,
            metadata={"organization": str(locked.pk), "created": before is None},
        )
    return connection
