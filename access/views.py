"""The Access pages: in the account area, asking for access, one's requests and grants, and
the requests to review; in an organization's pages, its requestable resources, grants and
security policies for those who manage them.

Every write is a call to ``access.services`` or ``access.policies.services``; their refusals
come back as form errors (or messages) with their status, and nothing is written. What the
caller may not see is a 404, as in the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from access import selectors
from access.forms import (
    AccessRequestForm,
    OrganizationChoiceForm,
    PolicyForm,
    ResourceForm,
    ReviewForm,
)
from access.models import AccessRequest
from access.policies import selectors as policy_selectors
from access.policies import services as policy_services
from access.policies.types import POLICY_TYPES
from access.services import checks as check_services
from access.services import requests as request_services
from access.services import resources as resource_services
from config.errors import DomainError
from orgs.models import Membership, Organization
from orgs.permissions import can
from orgs.selectors import members_of, organizations_visible_to, roles_of, teams_of
from orgs.views import active_organization

LIST_LIMIT = 50


def _submit(form, act, *, field_for=None) -> tuple[Any, int | None]:
    """Validate ``form`` and run ``act(cleaned_data)``: ``(result, None)`` when done, else
    ``(None, status)``: 400 for input the form refuses, the service's status for its
    refusals, shown next to the field the service names (or above the form)."""
    if not form.is_valid():
        return None, 400
    try:
        return act(form.cleaned_data), None
    except DomainError as exc:
        field = field_for(exc.attr) if field_for else exc.attr
        form.add_error(field if field in form.fields else None, exc.detail)
        return None, exc.status_code


def _forbidden(request: HttpRequest, org: Organization, tab: str, permission: str):
    return render(
        request,
        "access/forbidden.html",
        {"org": org, "access_tab": tab, "permission": permission},
        status=403,
    )


# --- the account area ---------------------------------------------------------------------


def _member_organizations(user: Any):
    return (
        organizations_visible_to(user)
        .filter(memberships__user_id=user.pk, memberships__status=Membership.Status.ACTIVE)
        .order_by("name")
    )


@never_cache
@login_required
def access_home(request: HttpRequest) -> HttpResponse:
    """My requests (cancel while pending) and my grants (end them early)."""
    user = request.user
    my_requests = selectors.requests_for(user, as_="requester")[:LIST_LIMIT]
    grants = selectors.grants_of_user(user).select_related("organization")[:LIST_LIMIT]
    to_review = selectors.requests_for(user, as_="approver", status="pending").filter(
        approvers=user
    )
    managed = [
        org
        for org in _member_organizations(user)
        if can(user, "access:manage", org) or can(user, "policies:manage", org)
    ]
    return render(
        request,
        "access/home.html",
        {
            "access_tab": "mine",
            "managed": managed,
            "requests": my_requests,
            "grants": grants,
            "to_review_count": to_review.count(),
            "limit": LIST_LIMIT,
        },
    )


@never_cache
@login_required
def request_new(request: HttpRequest) -> HttpResponse:
    """Ask for access: the organization is chosen first (its resources and levels are then
    listed), then resource, level, duration and justification."""
    organizations = list(_member_organizations(request.user))
    chosen_id = (request.POST if request.method == "POST" else request.GET).get("organization")
    if not chosen_id:
        active = active_organization(request)
        chosen_id = str(active.pk) if active is not None else None
    org = next((o for o in organizations if str(o.pk) == chosen_id), None)
    if org is None and request.method == "POST":
        raise Http404
    if org is None and organizations:
        org = organizations[0]
    chooser = OrganizationChoiceForm(
        organizations=organizations, initial={"organization": str(org.pk) if org else ""}
    )
    resources = resource_services.resources_of(org) if org is not None else []
    form = AccessRequestForm(
        request.POST if request.method == "POST" else None, resources=resources
    )
    status = 200
    if request.method == "POST":
        created, status = _submit(
            form,
            lambda data: request_services.request_submit(
                organization=org,
                requester=request.user,
                resource=data["resource"],
                access_level=data["access_level"],
                justification=data["justification"],
                duration_days=data["duration_days"],
                request=request,
            ),
        )
        if status is None:
            if created.status == AccessRequest.Status.APPROVED:
                messages.success(
                    request, _("Your request was approved at once; the grant started.")
                )
            else:
                messages.success(request, _("Your request is waiting for approval."))
            return redirect("access-request", created.pk)
    return render(
        request,
        "access/request_new.html",
        {
            "access_tab": "new",
            "org": org,
            "organizations": organizations,
            "chooser": chooser,
            "resources": resources,
            "described": [r for r in resources if r.description and not r.builtin],
            "form": form,
        },
        status=status,
    )


@never_cache
@login_required
def reviews(request: HttpRequest) -> HttpResponse:
    """The requests waiting for the caller's decision, and those they decided."""
    mine = selectors.requests_for(request.user, as_="approver")
    waiting = mine.filter(status=AccessRequest.Status.PENDING, approvers=request.user)
    decided = mine.filter(reviews__reviewer=request.user)[:LIST_LIMIT]
    return render(
        request,
        "access/reviews.html",
        {"access_tab": "reviews", "waiting": waiting, "decided": decided, "limit": LIST_LIMIT},
    )


def _visible_request(request: HttpRequest, request_id) -> AccessRequest:
    row = selectors.request_visible(request.user, request_id)
    if row is None:
        raise Http404
    return row


@never_cache
@login_required
def request_detail(request: HttpRequest, request_id) -> HttpResponse:
    """One request: its reviews and grant; the review form for an approver who has not
    decided yet; cancel for its requester while pending."""
    row = _visible_request(request, request_id)
    user = request.user
    is_approver = any(a.pk == user.pk for a in row.approvers.all())
    reviewed = any(r.reviewer_id == user.pk for r in row.reviews.all())
    may_review = row.status == AccessRequest.Status.PENDING and is_approver and not reviewed
    form = None
    status = 200
    if may_review or request.method == "POST":
        members = (
            members_of(row.organization)
            .filter(status=Membership.Status.ACTIVE)
            .exclude(user_id=row.requester_id)
            .exclude(user_id=user.pk)
        )
        form = ReviewForm(
            request.POST if request.method == "POST" else None,
            access_request=row,
            members=members,
        )
    if request.method == "POST":
        _done, status = _submit(
            form,
            lambda _data: request_services.request_review(
                access_request=row, reviewer=user, request=request, **form.service_arguments()
            ),
            field_for=lambda attr: (attr or "").removeprefix("conditions."),
        )
        if status is None:
            messages.success(request, _("Your review is recorded."))
            return redirect("access-request", row.pk)
        may_review = True
    grant = getattr(row, "grant", None) if row.status == AccessRequest.Status.APPROVED else None
    return render(
        request,
        "access/request_detail.html",
        {
            "access_tab": "reviews" if row.requester_id != user.pk else "mine",
            "req": row,
            "grant": grant,
            "form": form if may_review else None,
            "may_cancel": row.requester_id == user.pk
            and row.status == AccessRequest.Status.PENDING,
            "may_revoke": grant is not None
            and grant.is_active()
            and check_services.may_revoke(user, grant),
        },
        status=status,
    )


@require_POST
@login_required
def request_cancel(request: HttpRequest, request_id) -> HttpResponse:
    row = _visible_request(request, request_id)
    try:
        request_services.request_cancel(access_request=row, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request,
            _("Your request for %(resource)s was canceled.") % {"resource": row.resource_key},
        )
    return redirect("access-request", row.pk)


@require_POST
@login_required
def grant_revoke(request: HttpRequest, grant_id) -> HttpResponse:
    """End a grant now: its holder, an approver of its request, or ``access:manage``."""
    grant = selectors.grant_visible(request.user, grant_id)
    if grant is None:
        raise Http404
    try:
        request_services.grant_revoke(grant=grant, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request, _("The grant of %(resource)s ended.") % {"resource": grant.resource_key}
        )
    if request.POST.get("back") == "organization" and can(
        request.user, "access:manage", grant.organization
    ):
        return redirect("org-access-grants", grant.organization_id)
    if grant.user_id != request.user.pk and grant.request_id is not None:
        return redirect("access-request", grant.request_id)
    return redirect("access-home")


# --- an organization's pages --------------------------------------------------------------


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
        row, status = _submit(
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
        _done, status = _submit(
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
                        "label": f.name.replace("_", " ").capitalize(),
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
        _done, status = _submit(
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
