"""The invitation page: where the link in an invitation email lands.

A person who is not signed in is sent to sign in or sign up (and verify the invited
address) and comes back here; the invitee then accepts or declines. Every decision is taken
by ``orgs.services.invitations``; an invitation that is not addressed to a verified email of
the signed-in account, or a link that is no longer the live one, is a 404 that names nothing.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from config.errors import DomainError, NotFound
from orgs.services import invitations as services

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
                    messages.success(request, f"You joined {name}.")
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
