"""The invitation page: where the link in an invitation email lands.

A person who is not signed in is sent to sign in or sign up (and verify the invited
address) and comes back here; the invitee then accepts or declines. Every decision is taken
by ``orgs.services.invitations``; an invitation that is not addressed to a verified email of
the signed-in account, or a link that is no longer the live one, is a 404 that names nothing.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.views import add_domain_error
from config.errors import DomainError, NotFound
from orgs.catalogue import role_permissions
from orgs.forms import (
    DomainAddForm,
    InvitationForm,
    MemberAddForm,
    MemberForm,
    OrganizationCreateForm,
    RoleCreateForm,
    TeamCreateForm,
    TeamMemberAddForm,
)
from orgs.models import (
    Invitation,
    Membership,
    Organization,
    OrganizationDomain,
    Role,
    Team,
    TeamMembership,
)
from orgs.permissions import can
from orgs.selectors import (
    invitations_of,
    members_of,
    organizations_visible_to,
    pending_invitations_for,
    roles_of,
    team_members,
    teams_of,
)
from orgs.services import invitations as services
from orgs.services.domains import domain_add, domain_remove
from orgs.services.invitations import invitation_cancel, invitation_create, invitation_resend
from orgs.services.members import member_add, member_remove, member_update
from orgs.services.organizations import org_create
from orgs.services.roles import role_create, role_delete
from orgs.services.teams import (
    team_create,
    team_member_add,
    team_member_remove,
    team_member_update,
)

DECISIONS = {"accept": services.invitation_accept, "decline": services.invitation_decline}


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "orgs/invitation_not_found.html", status=404)


def invitation(request: HttpRequest, invitation_id) -> HttpResponse:
    token = (request.POST if request.method == "POST" else request.GET).get("token") or None
    if not request.user.is_authenticated:
        here = f"{request.path}?{urlencode({'token': token})}" if token else request.path
        return render(
            request,
            "orgs/invitation_sign_in.html",
            {
                "login_url": f"{reverse('account_login')}?{urlencode({'next': here})}",
                "signup_url": f"{reverse('account_signup')}?{urlencode({'next': here})}",
            },
        )
    try:
        found = services.invitation_for_invitee(
            invitation_id=invitation_id, user=request.user, token=token
        )
    except NotFound:
        return _not_found(request)
    if request.method == "POST":
        decide = DECISIONS.get(request.POST.get("decision", ""))
        if decide is None:
            messages.error(request, "Choose accept or decline.")
        else:
            try:
                decide(invitation_id=found.pk, user=request.user, token=token, request=request)
            except NotFound:
                return _not_found(request)
            except DomainError as exc:
                messages.error(request, exc.detail)
            else:
                name = found.organization.name
                if request.POST["decision"] == "accept":
                    # The invitee lands in the organization they joined.
                    set_active_organization(request, found.organization)
                    messages.success(request, f"You joined {name}; it is your active organization.")
                else:
                    messages.info(request, f"You declined the invitation to {name}.")
                return redirect("account-overview")
    return render(
        request,
        "orgs/invitation.html",
        {
            "invitation": found,
            "roles": [r.name for r in found.roles.all()],
            "token": token or "",
        },
    )


# --- The organization pages of the account area -------------------------------------------
#
# What a page shows and which forms it offers follow ``orgs.permissions.can``; every write is
# a call to ``orgs.services``, whose refusals come back as form errors with their status.
# Someone who may not read an organization (``members:read``) gets a 404 for all of it.

ACTIVE_ORG_SESSION_KEY = "roster.active_org"


def active_organization(request: HttpRequest) -> Organization | None:
    """The organization chosen in this browser session, while the user may still see it."""
    chosen = request.session.get(ACTIVE_ORG_SESSION_KEY) if request.user.is_authenticated else None
    if not chosen:
        return None
    return organizations_visible_to(request.user).filter(pk=chosen).first()


def set_active_organization(request: HttpRequest, organization: Organization) -> None:
    request.session[ACTIVE_ORG_SESSION_KEY] = str(organization.pk)


def _organization(request: HttpRequest, org_id) -> Organization:
    org = organizations_visible_to(request.user).filter(pk=org_id).first()
    if org is None or not can(request.user, "members:read", org):
        raise Http404
    return org


def _team(org: Organization, team_id) -> Team:
    return get_object_or_404(Team, organization=org, pk=team_id)


def _tabs(request: HttpRequest, org: Organization, current: str, **extra) -> dict[str, Any]:
    return {"org": org, "tab": current, "active_org_id": active_org_id(request), **extra}


def active_org_id(request: HttpRequest) -> str:
    return request.session.get(ACTIVE_ORG_SESSION_KEY, "")


def _submit(form, act, *, field_names=None) -> tuple[Any, int | None]:
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


def _refused(request: HttpRequest, exc: DomainError) -> None:
    messages.error(request, exc.detail)


@never_cache
@login_required
def organization_list(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        org, status = _submit(
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
    org = _organization(request, org_id)
    roles = list(roles_of(org))
    form = MemberAddForm(request.POST if request.method == "POST" else None, roles=roles)
    status = 200
    if request.method == "POST":
        _done, status = _submit(
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
        _tabs(
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
    org = _organization(request, org_id)
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
        _done, status = _submit(
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
        _tabs(
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
    org = _organization(request, org_id)
    membership = get_object_or_404(Membership, organization=org, user_id=user_id)
    leaving = membership.user_id == request.user.pk
    try:
        member_remove(
            organization=org, user_id=membership.user_id, actor=request.user, request=request
        )
    except DomainError as exc:
        _refused(request, exc)
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
def team_list(request: HttpRequest, org_id) -> HttpResponse:
    org = _organization(request, org_id)
    form = TeamCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        team, status = _submit(
            form,
            lambda data: team_create(
                organization=org,
                actor=request.user,
                name=data["name"],
                team_type=data["team_type"],
                description=data["description"],
                request=request,
            ),
        )
        if status is None:
            messages.success(request, f"Team {team.name} is set up; you lead it.")
            return redirect("org-team", org.pk, team.pk)
    return render(
        request,
        "orgs/teams.html",
        _tabs(
            request,
            org,
            "teams",
            teams=teams_of(org).order_by("name"),
            form=form,
            may_create=can(request.user, "teams:create", org),
        ),
        status=status,
    )


@never_cache
@login_required
def team_detail(request: HttpRequest, org_id, team_id) -> HttpResponse:
    org = _organization(request, org_id)
    team = _team(org, team_id)
    form = TeamMemberAddForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        _done, status = _submit(
            form,
            lambda data: team_member_add(
                team=team,
                actor=request.user,
                user_email=data["user_email"],
                role=data["role"],
                title=data["title"],
                request=request,
            ),
            field_names={"user": "user_email"},
        )
        if status is None:
            messages.success(request, f"{form.cleaned_data['user_email']} joined {team.name}.")
            return redirect("org-team", org.pk, team.pk)
    return render(
        request,
        "orgs/team.html",
        _tabs(
            request,
            org,
            "teams",
            team=team,
            rows=team_members(team),
            form=form,
            may_manage=can(request.user, "teams:manage", team),
        ),
        status=status,
    )


@require_POST
@login_required
def team_member_remove_view(request: HttpRequest, org_id, team_id, user_id) -> HttpResponse:
    org = _organization(request, org_id)
    team = _team(org, team_id)
    row = get_object_or_404(TeamMembership, team=team, user_id=user_id)
    try:
        team_member_remove(team=team, user_id=row.user_id, actor=request.user, request=request)
    except DomainError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"{row.user.email} left {team.name}.")
    return redirect("org-team", org.pk, team.pk)


@require_POST
@login_required
def team_member_role_view(request: HttpRequest, org_id, team_id, user_id) -> HttpResponse:
    """Make a team member a lead, or a lead a member (``teams:manage``; the last lead stays)."""
    org = _organization(request, org_id)
    team = _team(org, team_id)
    row = get_object_or_404(TeamMembership, team=team, user_id=user_id)
    try:
        changed = team_member_update(
            team=team,
            user_id=row.user_id,
            actor=request.user,
            role=request.POST.get("role", ""),
            request=request,
        )
    except DomainError as exc:
        _refused(request, exc)
    else:
        role = changed.get_role_display().lower()
        messages.success(request, f"{row.user.email} is a {role} of {team.name}.")
    return redirect("org-team", org.pk, team.pk)


@never_cache
@login_required
def invitation_list(request: HttpRequest, org_id) -> HttpResponse:
    org = _organization(request, org_id)
    teams = list(Team.objects.filter(organization=org).order_by("name"))
    form = InvitationForm(
        request.POST if request.method == "POST" else None, roles=list(roles_of(org)), teams=teams
    )
    status = 200
    if request.method == "POST":
        _done, status = _submit(
            form,
            lambda data: invitation_create(
                organization=org,
                actor=request.user,
                email=data["email"],
                roles=[data["role"]],
                teams=[data["team"]] if data["team"] else [],
                expires_in_days=data["expires_in_days"],
                request=request,
            ),
            field_names={"roles": "role", "teams": "team"},
        )
        if status is None:
            messages.success(request, f"An invitation was sent to {form.cleaned_data['email']}.")
            return redirect("org-invitations", org.pk)
    may_invite = can(request.user, "members:invite", org)
    return render(
        request,
        "orgs/invitations.html",
        _tabs(
            request,
            org,
            "invitations",
            invitations=invitations_of(org).order_by("-created_at") if may_invite else [],
            form=form,
            may_invite=may_invite,
        ),
        status=status,
    )


INVITATION_ACTIONS = {"cancel": invitation_cancel, "resend": invitation_resend}


@require_POST
@login_required
def invitation_action(request: HttpRequest, org_id, invitation_id, action: str) -> HttpResponse:
    org = _organization(request, org_id)
    act = INVITATION_ACTIONS.get(action)
    found = Invitation.objects.filter(organization=org, pk=invitation_id).first()
    if act is None or found is None:
        raise Http404
    try:
        act(organization=org, invitation_id=found.pk, actor=request.user, request=request)
    except DomainError as exc:
        _refused(request, exc)
    else:
        done = "canceled" if action == "cancel" else "sent again with a new link"
        messages.success(request, f"The invitation to {found.email} was {done}.")
    return redirect("org-invitations", org.pk)


@never_cache
@login_required
def role_list(request: HttpRequest, org_id) -> HttpResponse:
    org = _organization(request, org_id)
    form = RoleCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        _done, status = _submit(
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
        _tabs(
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
    org = _organization(request, org_id)
    get_object_or_404(Role, organization=org, key=key)
    try:
        role_delete(organization=org, key=key, actor=request.user, request=request)
    except DomainError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"The role {key} was deleted.")
    return redirect("org-roles", org.pk)


@never_cache
@login_required
def domain_list(request: HttpRequest, org_id) -> HttpResponse:
    org = _organization(request, org_id)
    form = DomainAddForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        _done, status = _submit(
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
        _tabs(
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
    org = _organization(request, org_id)
    row = get_object_or_404(OrganizationDomain, organization=org, domain=domain.lower())
    try:
        domain_remove(organization=org, domain=row.domain, actor=request.user, request=request)
    except DomainError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"The domain {row.domain} was removed.")
    return redirect("org-domains", org.pk)
