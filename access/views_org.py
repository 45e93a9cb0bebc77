"""The Access pages of an organization: its requestable resources, its grants and its
security policies, for those who manage them (``access:manage``, ``policies:manage``; others
who may read the organization see a 403 page that names the permission). The account area's
Access pages are ``access.views``.

Every write is a call to ``access.services`` or ``access.policies.services``; their refusals
come back as form errors with their status, and nothing is written. An organization the
caller may not read is a 404, as in the API.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from access import selectors
from access.forms import PolicyForm, ResourceForm
from access.policies import selectors as policy_selectors
from access.policies import services as policy_services
from access.policies.types import POLICY_TYPES
from access.services import resources as resource_services
from access.views import LIST_LIMIT, submit_form
from config.errors import DomainError
from orgs.models import Membership, Organization
from orgs.permissions import can
from orgs.selectors import members_of, organizations_visible_to, roles_of, teams_of


def _forbidden(request: HttpRequest, org: Organization, tab: str, permission: str):
    return render(
        request,
        "access/forbidden.html",
        {"org": org, "access_tab": tab, "permission": permission},
        status=403,
    )


def _organization(request: HttpRequest, org_id) -> Organization:
    """The organization, for those who may read it (as the organization pages); else 404."""
    org = organizations_visible_to(request.user).filter(pk=org_id).first()
    if org is None or not can(request.user, "members:read", org):
        raise Http404
    return org


def _resource_form(request: HttpRequest, org: Organization, *, editing: bool, initial=None):
    members = members_of(org).filter(status=Membership.Status.ACTIVE)
    return ResourceForm(
        request.POST if request.method == "POST" else None,
        roles=roles_of(org),
        teams=teams_of(org).order_by("name"),
        members=members,
        editing=editing,
        initial=initial,
    )


@never_cache
@login_required
def org_resources(request: HttpRequest, org_id) -> HttpResponse:
    """The organization's requestable resources (its members read them); ``access:manage``
    describes new ones."""
    org = _organization(request, org_id)
    may_manage = can(request.user, "access:manage", org)
    form = _resource_form(request, org, editing=False) if may_manage else None
    status = 200
    if request.method == "POST":
        if not may_manage:
            return _forbidden(request, org, "resources", "access:manage")
        row, status = submit_form(
            form,
            lambda _data: resource_services.resource_create(
                organization=org, actor=request.user, request=request, **form.service_data()
            ),
            field_for=form.field_for,
        )
        if status is None:
            messages.success(request, _("The resource %(key)s is described.") % {"key": row.key})
            return redirect("org-access-resources", org.pk)
    return render(
        request,
        "access/org_resources.html",
        {
            "org": org,
            "access_tab": "resources",
            "resources": resource_services.resources_of(org),
            "form": form,
            "may_manage": may_manage,
        },
        status=status,
    )


def _stored_resource(org: Organization, key: str):
    try:
        found = resource_services.resource_get(org, key)
    except DomainError:
        raise Http404 from None
    if found.row is None:  # built-in role resources are fixed
        raise Http404
    return found


@never_cache
@login_required
def org_resource_edit(request: HttpRequest, org_id, key: str) -> HttpResponse:
    org = _organization(request, org_id)
    found = _stored_resource(org, key)
    if not can(request.user, "access:manage", org):
        return _forbidden(request, org, "resources", "access:manage")
    initial = {
        "name": found.name,
        "description": found.description,
        "levels": ", ".join(found.levels),
        "approver_roles": found.approvers.get("roles", []),
        "approver_teams": found.approvers.get("teams", []),
        "approver_users": found.approvers.get("users", []),
        "min_approvals": found.min_approvals,
        "max_duration_days": found.max_duration_days,
        "pending_days": found.pending_days,
        "auto_approve_levels": ", ".join(found.auto_approve_levels),
    }
    form = _resource_form(request, org, editing=True, initial=initial)
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
            form,
            lambda _data: resource_services.resource_update(
                resource=found.row, actor=request.user, request=request, **form.service_data()
            ),
            field_for=form.field_for,
        )
        if status is None:
            messages.success(request, _("The resource %(key)s is saved.") % {"key": found.key})
            return redirect("org-access-resources", org.pk)
    return render(
        request,
        "access/org_resource_edit.html",
        {"org": org, "access_tab": "resources", "resource": found, "form": form},
        status=status,
    )


@require_POST
@login_required
def org_resource_delete(request: HttpRequest, org_id, key: str) -> HttpResponse:
    org = _organization(request, org_id)
    found = _stored_resource(org, key)
    try:
        resource_services.resource_delete(resource=found.row, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, exc.detail)
        if exc.status_code == 403:
            return _forbidden(request, org, "resources", "access:manage")
        return redirect("org-access-resource", org.pk, found.key)
    messages.success(request, _("The resource %(key)s was deleted.") % {"key": found.key})
    return redirect("org-access-resources", org.pk)


@never_cache
@login_required
def org_grants(request: HttpRequest, org_id) -> HttpResponse:
    """The organization's grants, for ``access:manage`` (who may end them)."""
    org = _organization(request, org_id)
    if not can(request.user, "access:manage", org):
        return _forbidden(request, org, "grants", "access:manage")
    rows = selectors.grants_of_organization(org).select_related("user")[:LIST_LIMIT]
    return render(
        request,
        "access/org_grants.html",
        {"org": org, "access_tab": "grants", "grants": rows, "limit": LIST_LIMIT},
    )


@never_cache
@login_required
def org_policies(request: HttpRequest, org_id) -> HttpResponse:
    """Every policy type, the organization's values (or the platform's it inherits) next to
    the platform's."""
    org = _organization(request, org_id)
    if not can(request.user, "policies:manage", org):
        return _forbidden(request, org, "policies", "policies:manage")
    policies = []
    for policy_type, fields in POLICY_TYPES.items():
        values = policy_selectors.policy_values(org, policy_type)
        platform = policy_selectors.platform_values(policy_type)
        policies.append(
            {
                "type": policy_type,
                "inherited": policy_selectors.stored_policy(org, policy_type) is None,
                "rows": [
                    {
                        "label": f.label,
                        "value": values.get(f.name),
                        "platform": platform.get(f.name),
                    }
                    for f in fields
                ],
            }
        )
    return render(
        request,
        "access/org_policies.html",
        {"org": org, "access_tab": "policies", "policies": policies},
    )


@never_cache
@login_required
def org_policy_edit(request: HttpRequest, org_id, policy_type: str) -> HttpResponse:
    org = _organization(request, org_id)
    if policy_type not in POLICY_TYPES:
        raise Http404
    if not can(request.user, "policies:manage", org):
        return _forbidden(request, org, "policies", "policies:manage")
    form = PolicyForm(
        request.POST if request.method == "POST" else None,
        policy_fields=POLICY_TYPES[policy_type],
        initial=policy_selectors.policy_values(org, policy_type),
    )
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
            form,
            lambda _data: policy_services.policy_set(
                organization=org,
                policy_type=policy_type,
                values=form.values(),
                actor=request.user,
                request=request,
            ),
        )
        if status is None:
            messages.success(
                request,
                _("The %(type)s policy of %(org)s is saved.")
                % {"type": policy_type, "org": org.name},
            )
            return redirect("org-access-policies", org.pk)
    return render(
        request,
        "access/org_policy_edit.html",
        {
            "org": org,
            "access_tab": "policies",
            "policy_type": policy_type,
            "form": form,
            "platform": policy_selectors.platform_values(policy_type),
            "cancel_url": reverse("org-access-policies", args=[org.pk]),
        },
        status=status,
    )
