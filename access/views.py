"""The Access pages of the account area: asking for access, one's requests and grants,
and the requests to review. An organization's Access pages (its requestable resources,
grants and security policies, for those who manage them) are ``access.views_org``.

Every write is a call to ``access.services``; their refusals come back as form errors (or
messages) with their status, and nothing is written. What the caller may not see is a 404,
as in the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from access import selectors
from access.forms import AccessRequestForm, OrganizationChoiceForm, ReviewForm
from access.models import AccessRequest
from access.services import checks as check_services
from access.services import requests as request_services
from access.services import resources as resource_services
from config.errors import DomainError
from orgs.models import Membership
from orgs.permissions import can
from orgs.selectors import members_of, organizations_visible_to
from orgs.views import active_organization

LIST_LIMIT = 50


def submit_form(form, act, *, field_for=None) -> tuple[Any, int | None]:
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
        created, status = submit_form(
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
        _done, status = submit_form(
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
