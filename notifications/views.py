"""Notification pages: the list (read, unread, mark read) and "Send a notification".

Every write is a call to ``notifications.services``; who may send to whom is the rule of
``notifications.audience`` (the organizations' rule), the same as ``POST
/api/v1/notifications/send``. Live updates come from notifications/static/notifications/live.js
over the WebSocket; without it the pages work as plain forms and links.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from config.errors import DomainError, NotFound
from notifications import audience, selectors, services
from notifications.forms import SendForm
from notifications.kinds import Kind
from notifications.models import Notification

PAGE_SIZE = 25


def _list_url(request: HttpRequest) -> str:
    """Back to the list the form was posted from (its filter and page), never elsewhere."""
    url = reverse("notifications-list")
    query = {}
    if request.POST.get("unread") == "1":
        query["unread"] = "1"
    page = request.POST.get("page", "")
    if page.isdigit() and len(page) < 10:
        query["page"] = page
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


@never_cache
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("unread") == "1"
    found = selectors.notifications_of(request.user, unread=unread_only)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {
            "page": page,
            "unread_only": unread_only,
            "may_send": bool(audience.choices(actor=request.user)),
            "kind_labels": dict(Kind.choices),
        },
    )


@require_POST
@login_required
def notification_read(request: HttpRequest, notification_id) -> HttpResponse:
    try:
        notification = selectors.notification_of(request.user, notification_id)
    except NotFound:
        raise Http404 from None
    services.notification_mark_read(notification=notification)
    return redirect(_list_url(request))


@require_POST
@login_required
def notification_read_all(request: HttpRequest) -> HttpResponse:
    marked = services.notifications_mark_all_read(user=request.user)
    if marked:
        messages.success(
            request,
            ngettext(
                "Marked %(count)d notification read.",
                "Marked %(count)d notifications read.",
                marked,
            )
            % {"count": marked},
        )
    return redirect(_list_url(request))


@never_cache
@login_required
def notification_send(request: HttpRequest) -> HttpResponse:
    choices = audience.choices(actor=request.user)
    if not choices:
        return render(request, "notifications/send_refused.html", status=403)
    form = SendForm(request.POST if request.method == "POST" else None, choices=choices)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                sent = services.notifications_send(
                    actor=request.user,
                    title=data["title"],
                    message=data["message"],
                    priority=data["priority"] or Notification.Priority.MEDIUM,
                    request=request,
                    **form.target(),
                )
            except DomainError as exc:
                field = "recipient" if exc.attr in (None, "target_user", "team") else exc.attr
                form.add_error(field if field in form.fields else None, exc.detail)
                status = exc.status_code
            else:
                reached = len(sent)
                messages.success(
                    request,
                    ngettext("Sent to %(count)d person.", "Sent to %(count)d people.", reached)
                    % {"count": reached}
                    if reached
                    else gettext("Nobody else is in that team: nothing was sent."),
                )
                return redirect("notifications-send-page")
    return render(request, "notifications/send.html", {"form": form}, status=status)
