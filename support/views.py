"""Account pages "Support": open a ticket (with a file), your tickets, a ticket's
conversation, reply, attach, close, download.

Every write is a call to ``support.services`` and every read goes through
``support.selectors``, the same rules as the API: another person's ticket is 404, internal
notes are shown to support staff only, and files leave only through
``support.downloads.attachment_response``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from config.errors import DomainError
from support import selectors, services
from support.content import MAX_ATTACHMENT_BYTES
from support.downloads import attachment_response
from support.forms import ReplyForm, TicketOpenForm
from support.models import Ticket

PAGE_SIZE = 25
# A form with one file of at most 5 MB, its other fields and the multipart framing.
MAX_FORM_BYTES = MAX_ATTACHMENT_BYTES + 128 * 1024


def _ticket(request: HttpRequest, ticket_id) -> Ticket:
    try:
        return selectors.ticket_for(request.user, ticket_id)
    except DomainError:
        raise Http404() from None


def _too_large(request: HttpRequest) -> bool:
    length = request.META.get("CONTENT_LENGTH") or "0"
    return length.isdigit() and int(length) > MAX_FORM_BYTES


def _refuse(form, exc: DomainError) -> int:
    field = exc.attr if exc.attr in form.fields else None
    form.add_error(field, exc.detail)
    return exc.status_code


@never_cache
@login_required
def ticket_list(request: HttpRequest) -> HttpResponse:
    """The tickets the user opened (support staff work the queues in the admin)."""
    rows = selectors.tickets_visible_to(request.user).filter(requester_id=request.user.pk)
    page = Paginator(rows.order_by("-created_at", "-number"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "support/list.html",
        {"page": page, "staff": selectors.is_support_staff(request.user)},
    )


@never_cache
@login_required
def ticket_open(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST" and _too_large(request):
        form = TicketOpenForm()
        form.add_error("file", _("An attachment is at most 5 MB."))
        return render(request, "support/open.html", {"form": form}, status=413)
    form = TicketOpenForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            upload = data.pop("file")
            try:
                # The ticket and its file, or neither.
                with transaction.atomic():
                    ticket = services.ticket_create(requester=request.user, request=request, **data)
                    if upload is not None:
                        services.attachment_add(
                            ticket=ticket,
                            uploader=request.user,
                            name=upload.name,
                            data=upload.read(MAX_ATTACHMENT_BYTES + 1),
                            request=request,
                        )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    _("Ticket #%(number)s is open. We will reply here.")
                    % {"number": ticket.number},
                )
                return redirect("support-ticket-page", ticket_id=ticket.pk)
    return render(request, "support/open.html", {"form": form}, status=status)


@never_cache
@login_required
def ticket_detail(request: HttpRequest, ticket_id) -> HttpResponse:
    ticket = _ticket(request, ticket_id)
    staff = selectors.is_support_staff(request.user)
    status = 200
    if request.method == "POST" and _too_large(request):
        form = ReplyForm(staff=staff)
        form.add_error("file", _("An attachment is at most 5 MB."))
        status = 413
    else:
        form = ReplyForm(request.POST or None, request.FILES or None, staff=staff)
    if request.method == "POST" and status == 200:
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            upload = data.get("file")
            try:
                # The message and its file, or neither.
                with transaction.atomic():
                    if data["body"].strip():
                        services.message_create(
                            ticket=ticket,
                            author=request.user,
                            body=data["body"],
                            internal=bool(data.get("internal")),
                            request=request,
                        )
                    if upload is not None:
                        services.attachment_add(
                            ticket=ticket,
                            uploader=request.user,
                            name=upload.name,
                            data=upload.read(MAX_ATTACHMENT_BYTES + 1),
                            request=request,
                        )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(request, _("Sent."))
                return redirect("support-ticket-page", ticket_id=ticket.pk)
        ticket = _ticket(request, ticket_id)
    return render(
        request,
        "support/detail.html",
        {
            "ticket": ticket,
            "form": form,
            "staff": staff,
            "closed": ticket.status == Ticket.Status.CLOSED,
        },
        status=status,
    )


@login_required
@require_POST
def ticket_close(request: HttpRequest, ticket_id) -> HttpResponse:
    ticket = _ticket(request, ticket_id)
    try:
        services.ticket_update(
            ticket=ticket, actor=request.user, status=Ticket.Status.CLOSED, request=request
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Ticket #%(number)s is closed.") % {"number": ticket.number})
    return redirect("support-ticket-page", ticket_id=ticket.pk)


@login_required
def attachment_download(request: HttpRequest, ticket_id, attachment_id) -> HttpResponse:
    ticket = _ticket(request, ticket_id)
    try:
        row = selectors.attachment_for(request.user, ticket, attachment_id)
    except DomainError:
        raise Http404() from None
    return attachment_response(row)
