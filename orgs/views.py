"""The organization pages of the account area: the list and the switch of the active
organization, an organization's members, roles and domains; its teams are in
``orgs.views_teams``, its invitations (and the page an invitation's link opens) in
``orgs.views_invitations``. This module also holds what those pages share (the active
organization, the 404 for what the caller may not read, the tabs, form submission).

What a page shows and which forms it offers follow ``orgs.permissions.can``; every write is
a call to ``orgs.services``, whose refusals come back as form errors with their status.
Someone who may not read an organization (``members:read``) gets a 404 for all of it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.views import add_domain_error
from config.errors import DomainError
from orgs.catalogue import role_permissions
from orgs.forms import (
    DomainAddForm,
    MemberAddForm,
    MemberForm,
    OrganizationCreateForm,
    RoleCreateForm,
)
from orgs.models import Membership, Organization, OrganizationDomain, Role, Team
from orgs.permissions import can
from orgs.selectors import members_of, organizations_visible_to, pending_invitations_for, roles_of
from orgs.services.domains import domain_add, domain_remove
from orgs.services.members import member_add, member_remove, member_update
from orgs.services.organizations import org_create
from orgs.services.roles import role_create, role_delete

ACTIVE_ORG_SESSION_KEY = "roster.active_org"


def active_organization(request: HttpRequest) -> Organization | None:
    """The organization chosen in this browser session, while the user may still see it."""
    chosen = request.session.get(ACTIVE_ORG_SESSION_KEY) if request.user.is_authenticated else None
    if not chosen:
        return None
    return organizations_visible_to(request.user).filter(pk=chosen).first()


def set_active_organization(request: HttpRequest, organization: Organization) -> None:
    request.session[ACTIVE_ORG_SESSION_KEY] = str(organization.pk)


def organization_or_404(request: HttpRequest, org_id) -> Organization:
    org = organizations_visible_to(request.user).filter(pk=org_id).first()
    if org is None or not can(request.user, "members:read", org):
        raise Http404
    return org


def team_or_404(org: Organization, team_id) -> Team:
    return get_object_or_404(Team, organization=org, pk=team_id)


def tab_context(request: HttpRequest, org: Organization, current: str, **extra) -> dict[str, Any]:
    return {"org": org, "tab": current, "active_org_id": active_org_id(request), **extra}


def active_org_id(request: HttpRequest) -> str:
    return request.session.get(ACTIVE_ORG_SESSION_KEY, "")


def submit_form(form, act, *, field_names=None) -> tuple[Any, int | None]:
    """Validate ``form`` and run ``act(cleaned_data)``: ``(result, None)`` when done, else
    ``(None, status)`` (400 for bad input, the service's status for its refusals, shown as
    form errors)."""
    if not form.is_valid():
        return None, 400
    try:
        return act(form.cleaned_data), None
    except DomainError as exc:
        add_domain_error(form, exc, field_names)
        return None, exc.status_code


def show_refusal(request: HttpRequest, exc: DomainError) -> None:
    messages.error(request, exc.detail)


@never_cache
@login_required
def organization_list(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        org, status = submit_form(
            form,
            lambda data: org_create(
                name=data["name"],
                slug=data["slug"] or None,
                description=data["description"],
                actor=request.user,
                request=request,
            ),
        )
        if status is None:
            set_active_organization(request, org)
            messages.success(request, f"{org.name} is created; it is your active organization.")
            return redirect("org-detail", org.pk)
    mine = (
        organizations_visible_to(request.user)
        .filter(memberships__user=request.user)
        .order_by("name")
    )
    return render(
        request,
        "orgs/list.html",
        {
            "organizations": mine,
            "form": form,
            "invitations": pending_invitations_for(request.user).order_by("created_at"),
            "active_org_id": active_org_id(request),
        },
        status=status,
    )


@require_POST
@login_required
def organization_switch(request: HttpRequest) -> HttpResponse:
    chosen = request.POST.get("organization", "")
    if not chosen:
        request.session.pop(ACTIVE_ORG_SESSION_KEY, None)
        messages.info(request, "No active organization.")
        return redirect("org-list")
    try:
        org_id = uuid.UUID(chosen)
    except ValueError:
        raise Http404 from None
    org = organizations_visible_to(request.user).filter(pk=org_id, memberships__user=request.user)
    org = org.first()
    if org is None:
        raise Http404
    set_active_organization(request, org)
    messages.success(request, f"{org.name} is your active organization.")
    return redirect("org-detail", org.pk)


@never_cache
@login_required
def organization_detail(request: HttpRequest, org_id) -> HttpResponse:
    """The organization and its members; an admin adds existing accounts here."""
    org = organization_or_404(request, org_id)
    roles = list(roles_of(org))
    form = MemberAddForm(request.POST if request.method == "POST" else None, roles=roles)
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
            form,
            lambda data: member_add(
                organization=org,
                actor=request.user,
                email=data["email"],
                roles=[data["role"]],
                request=request,
            ),
            field_names={"user": "email", "roles": "role"},
        )
        if status is None:
            messages.success(request, f"{form.cleaned_data['email']} is now a member.")
            return redirect("org-detail", org.pk)
    return render(
        request,
        "orgs/detail.html",
        tab_context(
            request,
            org,
            "members",
            members=members_of(org),
            form=form,
            may_manage=can(request.user, "members:manage", org),
        ),
        status=status,
    )


@never_cache
@login_required
def member_detail(request: HttpRequest, org_id, user_id) -> HttpResponse:
    org = organization_or_404(request, org_id)
    membership = get_object_or_404(members_of(org), user_id=user_id)
    roles = list(roles_of(org))
    current = [r.key for r in membership.roles.all()]
    form = MemberForm(
        request.POST if request.method == "POST" else None,
        roles=roles,
        initial={"roles": current, "status": membership.status},
    )
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
            form,
            lambda data: member_update(
                organization=org,
                user_id=membership.user_id,
                actor=request.user,
                roles=data["roles"],
                status=data["status"],
                request=request,
            ),
        )
        if status is None:
            messages.success(request, "Member saved.")
            return redirect("org-member", org.pk, membership.user_id)
    return render(
        request,
        "orgs/member.html",
        tab_context(
            request,
            org,
            "members",
            membership=membership,
            form=form,
            may_manage=can(request.user, "members:manage", org),
            is_self=membership.user_id == request.user.pk,
        ),
        status=status,
    )


@require_POST
@login_required
def member_remove_view(request: HttpRequest, org_id, user_id) -> HttpResponse:
    org = organization_or_404(request, org_id)
    membership = get_object_or_404(Membership, organization=org, user_id=user_id)
    leaving = membership.user_id == request.user.pk
    try:
        member_remove(
            organization=org, user_id=membership.user_id, actor=request.user, request=request
        )
    except DomainError as exc:
        show_refusal(request, exc)
        return redirect("org-member", org.pk, membership.user_id)
    if leaving:
        if active_org_id(request) == str(org.pk):
            request.session.pop(ACTIVE_ORG_SESSION_KEY, None)
        messages.success(request, f"You left {org.name}.")
        return redirect("org-list")
    messages.success(request, f"{membership.user.email} was removed.")
    return redirect("org-detail", org.pk)


@never_cache
@login_required
def role_list(request: HttpRequest, org_id) -> HttpResponse:
    org = organization_or_404(request, org_id)
    form = RoleCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
            form,
            lambda data: role_create(
                organization=org,
                actor=request.user,
                key=data["key"],
                name=data["name"],
                description=data["description"],
                permissions=data["permissions"],
                request=request,
            ),
        )
        if status is None:
            messages.success(request, f"The role {form.cleaned_data['key']} is defined.")
            return redirect("org-roles", org.pk)
    rows = [
        {"role": r, "permissions": sorted(role_permissions(r.key, r.permissions))}
        for r in roles_of(org)
    ]
    return render(
        request,
        "orgs/roles.html",
        tab_context(
            request,
            org,
            "roles",
            roles=rows,
            form=form,
            may_manage=can(request.user, "roles:manage", org),
        ),
        status=status,
    )


@require_POST
@login_required
def role_delete_view(request: HttpRequest, org_id, key: str) -> HttpResponse:
    org = organization_or_404(request, org_id)
    get_object_or_404(Role, organization=org, key=key)
    try:
        role_delete(organization=org, key=key, actor=request.user, request=request)
    except DomainError as exc:
        show_refusal(request, exc)
    else:
        messages.success(request, f"The role {key} was deleted.")
    return redirect("org-roles", org.pk)


@never_cache
@login_required
def domain_list(request: HttpRequest, org_id) -> HttpResponse:
    org = organization_or_404(request, org_id)
    form = DomainAddForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
            form,
            lambda data: domain_add(
                organization=org,
                actor=request.user,
                domain=data["domain"],
                join_mode=data["join_mode"],
                request=request,
            ),
        )
        if status is None:
            messages.success(request, f"The domain {form.cleaned_data['domain']} was added.")
            return redirect("org-domains", org.pk)
    return render(
        request,
        "orgs/domains.html",
        tab_context(
            request,
            org,
            "domains",
            domains=org.domains.order_by("domain"),
            form=form,
            may_manage=can(request.user, "org:update", org),
        ),
        status=status,
    )


@require_POST
@login_required
def domain_remove_view(request: HttpRequest, org_id, domain: str) -> HttpResponse:
    org = organization_or_404(request, org_id)
    row = get_object_or_404(OrganizationDomain, organization=org, domain=domain.lower())
    try:
        domain_remove(organization=org, domain=row.domain, actor=request.user, request=request)
    except DomainError as exc:
        show_refusal(request, exc)
    else:
        messages.success(request, f"The domain {row.domain} was removed.")
    return redirect("org-domains", org.pk)
