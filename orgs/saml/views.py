"""SAML pages: "single sign-on" on the sign-in page, and the organization's SSO settings.

Sign-in: the person gives their work address; when its domain belongs to an organization
with SAML enabled (orgs.saml.signin.connection_for_email) they are sent to that IdP through
allauth's SAML provider, else they are told to use their password. Password sign-in stays
as it is for everybody else.
"""

from __future__ import annotations

import json

from allauth.account.utils import get_next_redirect_url
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.views import add_domain_error
from config.errors import DomainError
from orgs.models import Organization
from orgs.permissions import can
from orgs.saml import services
from orgs.saml.forms import SamlSettingsForm, SsoSignInForm
from orgs.saml.models import SamlConnection
from orgs.saml.provider import provider_id_of, sp_urls
from orgs.saml.signin import connection_for_email
from orgs.selectors import organizations_visible_to
from orgs.views import active_org_id

NO_SSO = "No single sign-on is set up for this address. Sign in with your password."


@never_cache
@require_http_methods(["GET", "POST"])
def sso_sign_in(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("account-overview")
    form = SsoSignInForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            connection = connection_for_email(form.cleaned_data["email"])
            if connection is not None:
                provider = get_social_adapter().get_provider(
                    request, provider_id_of(connection.organization_id)
                )
                return provider.redirect(
                    request,
                    process=AuthProcess.LOGIN,
                    next_url=get_next_redirect_url(request),
                )
            form.add_error("email", NO_SSO)
    return render(
        request,
        "orgs/sso_sign_in.html",
        {"form": form, "next": get_next_redirect_url(request) or ""},
        status=status,
    )


def _managed_organization(request: HttpRequest, org_id) -> Organization:
    org = organizations_visible_to(request.user).filter(pk=org_id).first()
    if org is None or not can(request.user, "members:read", org):
        raise Http404
    return org


def _initial(connection: SamlConnection | None) -> dict:
    if connection is None:
        return {}
    return {
        "idp_entity_id": connection.idp_entity_id,
        "idp_sso_url": connection.idp_sso_url,
        "idp_x509_cert": connection.idp_x509_cert,
        "attribute_mapping": json.dumps(connection.attribute_mapping, indent=1)
        if connection.attribute_mapping
        else "",
        "domains": [d.domain for d in connection.domains.all()],
        "enabled": connection.enabled,
    }


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def sso_settings(request: HttpRequest, org_id) -> HttpResponse:
    org = _managed_organization(request, org_id)
    may_manage = can(request.user, services.PERMISSION, org)
    if not may_manage:
        # Members see the tabs, not the IdP's settings.
        return render(
            request,
            "orgs/sso.html",
            {
                "org": org,
                "tab": "sso",
                "active_org_id": active_org_id(request),
                "may_manage": False,
            },
            status=403,
        )
    connection = SamlConnection.objects.filter(organization=org).first()
    domain_choices = list(
        org.domains.filter(verified=True).order_by("domain").values_list("domain", flat=True)
    )
    form = SamlSettingsForm(
        request.POST if request.method == "POST" else None,
        initial=_initial(connection),
        domain_choices=domain_choices,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.saml_connection_set(
                    organization=org, actor=request.user, request=request, **form.cleaned_data
                )
            except DomainError as exc:
                add_domain_error(form, exc, {f"domains.{i}": "domains" for i in range(100)})
                status = exc.status_code
            else:
                messages.success(request, "Single sign-on settings saved.")
                return redirect("org-sso", org.pk)
    return render(
        request,
        "orgs/sso.html",
        {
            "org": org,
            "tab": "sso",
            "active_org_id": active_org_id(request),
            "may_manage": True,
            "form": form,
            "connection": connection,
            "sp": sp_urls(request, org.pk),
            "fingerprint": services.certificate_fingerprint(connection.idp_x509_cert)
            if connection
            else "",
            "has_verified_domains": bool(domain_choices),
        },
        status=status,
    )
