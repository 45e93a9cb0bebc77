"""Invitation pages: the one where the link in an invitation email lands, and an
organization's invitations (send, cancel, resend).

A person who is not signed in is sent to sign in or sign up (and verify the invited
address) and comes back here; the invitee then accepts or declines. Every decision is taken
by ``orgs.services.invitations``; an invitation that is not addressed to a verified email of
the signed-in account, or a link that is no longer the live one, is a 404 that names nothing.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from config.errors import DomainError, NotFound
from orgs.forms import InvitationForm
from orgs.models import Invitation, Team
from orgs.permissions import can
from orgs.selectors import invitations_of, roles_of
from orgs.services import invitations as services
from orgs.services.invitations import invitation_cancel, invitation_create, invitation_resend
from orgs.views import (
    organization_or_404,
    set_active_organization,
    show_refusal,
    submit_form,
    tab_context,
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


@never_cache
@login_required
def invitation_list(request: HttpRequest, org_id) -> HttpResponse:
    org = organization_or_404(request, org_id)
    teams = list(Team.objects.filter(organization=org).order_by("name"))
    form = InvitationForm(
        request.POST if request.method == "POST" else None, roles=list(roles_of(org)), teams=teams
    )
    status = 200
    if request.method == "POST":
        _done, status = submit_form(
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
        tab_context(
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
    org = organization_or_404(request, org_id)
    act = INVITATION_ACTIONS.get(action)
    found = Invitation.objects.filter(organization=org, pk=invitation_id).first()
    if act is None or found is None:
        raise Http404
    try:
        act(organization=org, invitation_id=found.pk, actor=request.user, request=request)
    except DomainError as exc:
        show_refusal(request, exc)
    else:
        done = "canceled" if action == "cancel" else "sent again with a new link"
        messages.success(request, f"The invitation to {found.email} was {done}.")
    return redirect("org-invitations", org.pk)
