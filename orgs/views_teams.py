"""An organization's team pages: its teams, a team's members and their roles (leads and
members). The rules are ``orgs.services.teams``'s."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from config.errors import DomainError
from orgs.forms import TeamCreateForm, TeamMemberAddForm
from orgs.models import TeamMembership
from orgs.permissions import can
from orgs.selectors import team_members, teams_of
from orgs.services.teams import team_create, team_member_add, team_member_remove, team_member_update
from orgs.views import organization_or_404, show_refusal, submit_form, tab_context, team_or_404


@never_cache
@login_required
def team_list(request: HttpRequest, org_id) -> HttpResponse:
    org = organization_or_404(request, org_id)
    form = TeamCreateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        team, status = submit_form(
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
        tab_context(
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
    org = organization_or_404(request, org_id)
    team = team_or_404(org, team_id)
    form = TeamMemberAddForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
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
        tab_context(
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
    org = organization_or_404(request, org_id)
    team = team_or_404(org, team_id)
    row = get_object_or_404(TeamMembership, team=team, user_id=user_id)
    try:
        team_member_remove(team=team, user_id=row.user_id, actor=request.user, request=request)
    except DomainError as exc:
        show_refusal(request, exc)
    else:
        messages.success(request, f"{row.user.email} left {team.name}.")
    return redirect("org-team", org.pk, team.pk)


@require_POST
@login_required
def team_member_role_view(request: HttpRequest, org_id, team_id, user_id) -> HttpResponse:
    """Make a team member a lead, or a lead a member (``teams:manage``; the last lead stays)."""
    org = organization_or_404(request, org_id)
    team = team_or_404(org, team_id)
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
        show_refusal(request, exc)
    else:
        role = changed.get_role_display().lower()
        messages.success(request, f"{row.user.email} is a {role} of {team.name}.")
    return redirect("org-team", org.pk, team.pk)
