"""Each organization's SAML connection as the ``SocialApp`` allauth's SAML provider reads.

Built from the :class:`~orgs.saml.models.SamlConnection` row on demand (the one source; no
copy is stored in allauth's tables) and handed to allauth by ``accounts.hooks``. The app's
``client_id`` is the organization's id, so its URLs stay the same when the slug changes:
``/accounts/saml/<organization id>/acs/``, ``.../metadata/``, ``.../login/``. Its
``provider_id`` (``saml-<organization id>``) is what a linked ``SocialAccount`` records, so
the same NameID at two organizations' IdPs names two different identities.
"""

from __future__ import annotations

import uuid
from typing import Any

from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.saml.provider import SAMLProvider
from allauth.socialaccount.providers.saml.utils import build_sp_config
from django.urls import reverse
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from orgs.saml.models import SamlConnection

PROVIDER_PREFIX = f"{SAMLProvider.id}-"


def provider_id_of(organization_id: Any) -> str:
    return f"{PROVIDER_PREFIX}{organization_id}"


def organization_id_of(provider_id: str | None) -> uuid.UUID | None:
    """The organization whose SAML app ``provider_id`` names; None for any other provider."""
    if not provider_id or not provider_id.startswith(PROVIDER_PREFIX):
        return None
    try:
        return uuid.UUID(provider_id.removeprefix(PROVIDER_PREFIX))
    except ValueError:
        return None


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


ADVANCED: dict[str, Any] = {
    "strict": True,
    # The assertion itself must carry the IdP's signature (a signed envelope around an
    # unsigned assertion is refused).
    "want_assertion_signed": True,
    # Only sign-ins Roster started (InResponseTo matches a request it sent).
    "reject_idp_initiated_sso": True,
    "reject_deprecated_algorithm": True,
    # Roster's own URLs may be on a one-label host (localhost, an intranet name); this
    # only relaxes python3-saml's URL syntax check of the settings.
    "allow_single_label_domains": True,
}


def app_settings(connection: SamlConnection) -> dict[str, Any]:
    settings: dict[str, Any] = {
        # Never listed as a "Continue with" button: people are routed by their email domain.
        "hidden": True,
        "idp": {
            "entity_id": connection.idp_entity_id,
            "sso_url": connection.idp_sso_url,
            "x509cert": connection.idp_x509_cert,
        },
        "advanced": dict(ADVANCED),
    }
    if connection.attribute_mapping:
        settings["attribute_mapping"] = connection.attribute_mapping
    return settings


def social_app(connection: SamlConnection) -> SocialApp:
    org = connection.organization
    return SocialApp(
        provider=SAMLProvider.id,
        provider_id=provider_id_of(org.pk),
        name=org.name,
        client_id=str(org.pk),
        settings=app_settings(connection),
    )


def saml_apps(*, provider: str | None, client_id: str | None) -> list[SocialApp]:
    """allauth's ``list_apps`` filters: an app is found by its provider id (a linked
    account) or by its client id (the SAML views). Whether it may sign anyone in is decided
    at sign-in (:mod:`orgs.saml.signin`), so a disabled connection still has its metadata
    and a linked account its name on the connections page."""
    org_id = organization_id_of(provider)
    if org_id is None:
        if provider != SAMLProvider.id or not client_id:
            return []
        org_id = _uuid_or_none(client_id)
    elif client_id and _uuid_or_none(client_id) != org_id:
        return []
    if org_id is None:
        return []
    connection = (
        SamlConnection.objects.select_related("organization").filter(organization_id=org_id).first()
    )
    return [social_app(connection)] if connection is not None else []


def sp_urls(request, organization_id: Any) -> dict[str, str]:
    """What the IdP is given: Roster's entity ID (its metadata URL, as allauth names it),
    the assertion consumer service (ACS) URL and the metadata URL, on the request's host."""
    kwargs = {"organization_slug": str(organization_id)}
    metadata_url = request.build_absolute_uri(reverse("saml_metadata", kwargs=kwargs))
    return {
        "entity_id": metadata_url,
        "acs_url": request.build_absolute_uri(reverse("saml_acs", kwargs=kwargs)),
        "metadata_url": metadata_url,
    }


def sp_metadata(request, organization_id: Any) -> str:
    """Roster's SP metadata for the organization, as allauth's metadata view writes it (the
    SP side needs no IdP, so it can be handed to the IdP before the IdP is configured)."""
    sp = build_sp_config(request, {"advanced": dict(ADVANCED)}, str(organization_id))
    saml_settings = OneLogin_Saml2_Settings(
        settings={
            "strict": True,
            "sp": sp,
            "security": {
                "wantAssertionsSigned": True,
                "authnRequestsSigned": False,
                "allowSingleLabelDomains": True,
            },
        },
        sp_validation_only=True,
    )
    metadata = saml_settings.get_sp_metadata()
    return metadata.decode() if isinstance(metadata, bytes) else metadata
