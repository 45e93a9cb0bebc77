"""The "Connected apps" page: the apps the user signed in to with Roster (OpenID Connect),
and revoking one (accounts.oidc_grants)."""

from __future__ import annotations

from allauth.idp.oidc.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import oidc_grants
from config.errors import NotFound


@login_required
def connected_apps(request: HttpRequest) -> HttpResponse:
    display = get_adapter().scope_display
    apps = [
        {**grant, "scopes": [(s, display.get(s, s)) for s in grant["scopes"]]}
        for grant in oidc_grants.oidc_grants_of(user=request.user)
    ]
    return render(request, "roster/connected_apps.html", {"apps": apps})


@require_POST
@login_required
def connected_app_revoke(request: HttpRequest, client_id: str) -> HttpResponse:
    try:
        oidc_grants.oidc_grant_revoke(
            user=request.user, client_id=client_id, actor=request.user, request=request
        )
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    messages.success(request, _("The app was disconnected; it must ask you again to sign in."))
    return redirect("account-connected-apps")
