"""Read side of support: who sees which tickets, and which of their messages.

One rule for every door (API, pages, admin, export): support staff (platform permission
``support.manage``: admins and the ``support`` role) see every ticket and every message;
anyone else sees only the tickets they requested, without the internal notes.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Prefetch, Q, QuerySet

from config.errors import NotFound
from support.models import Attachment, Message, Ticket

MANAGE_PERMISSION = "support.manage"


def is_support_staff(user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.has_perm(MANAGE_PERMISSION)
    )


def messages_visible_to(user, *, staff: bool | None = None) -> QuerySet[Message]:
    staff = is_support_staff(user) if staff is None else staff
    rows = Message.objects.select_related("author").order_by("created_at", "id")
    return rows if staff else rows.filter(internal=False)


def tickets_visible_to(user) -> QuerySet[Ticket]:
    """The tickets ``user`` may see, with their visible messages and attachments loaded."""
    staff = is_support_staff(user)
    rows = Ticket.objects.select_related("requester", "assignee").prefetch_related(
        Prefetch("messages", queryset=messages_visible_to(user, staff=staff)),
        Prefetch(
            "attachments",
            queryset=Attachment.objects.select_related("uploaded_by").order_by("created_at", "id"),
        ),
    )
    return rows if staff else rows.filter(requester_id=user.pk)


def tickets_filtered(
    rows: QuerySet[Ticket],
    *,
    viewer,
    status: str | None = None,
    priority: str | None = None,
    category: str | None = None,
    assignee: str | None = None,
    q: str | None = None,
) -> QuerySet[Ticket]:
    """``assignee`` is a user id, ``me`` or ``none`` (unassigned); ``q`` matches the subject,
    the description, the number (``42`` or ``#42``) and, for staff, the requester's email."""
    if status:
        rows = rows.filter(status=status)
    if priority:
        rows = rows.filter(priority=priority)
    if category:
        rows = rows.filter(category=category)
    if assignee == "none":
        rows = rows.filter(assignee__isnull=True)
    elif assignee == "me":
        rows = rows.filter(assignee_id=viewer.pk)
    elif assignee:
        rows = rows.filter(assignee_id=assignee)
    if q:
        text = q.strip()
        match = Q(subject__icontains=text) | Q(description__icontains=text)
        digits = text.lstrip("#")
        if digits.isascii() and digits.isdigit() and int(digits) < 2**31:
            match |= Q(number=int(digits))
        if is_support_staff(viewer):
            match |= Q(requester__email__icontains=text)
        rows = rows.filter(match)
    return rows


def ticket_for(user, ticket_id: Any) -> Ticket:
    """The ticket, if ``user`` may see it; else ``NotFound`` (another's ticket does not
    exist for them)."""
    try:
        pk = uuid.UUID(str(ticket_id))
    except ValueError:
        raise NotFound() from None
    found = tickets_visible_to(user).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def ticket_by_number_for(user, number: int) -> Ticket:
    found = tickets_visible_to(user).filter(number=number).first()
    if found is None:
        raise NotFound()
    return found


def attachment_for(user, ticket: Ticket, attachment_id: Any) -> Attachment:
    """An attachment of a ticket ``user`` may see (``ticket`` came from ``ticket_for``)."""
    try:
        pk = uuid.UUID(str(attachment_id))
    except ValueError:
        raise NotFound() from None
    found = Attachment.objects.filter(ticket=ticket, pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def support_staff_users() -> QuerySet:
    """Active users who may be assigned tickets (``support.manage`` by role or directly)."""
    perm = Permission.objects.filter(content_type__app_label="support", codename="manage")
    user_model = get_user_model()
    return (
        user_model.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True) | Q(user_permissions__in=perm) | Q(groups__permissions__in=perm)
        )
        .distinct()
        .order_by("email")
    )


def tickets_export_for_user(*, user) -> list[dict]:
    """The tickets ``user`` requested, with the conversation they can see (no internal
    notes) and their attachments' metadata."""
    rows = (
        Ticket.objects.filter(requester=user)
        .prefetch_related(
            Prefetch("messages", queryset=Message.objects.filter(internal=False)),
            "attachments",
        )
        .order_by("number")
    )
    return [
        {
            "id": str(t.pk),
            "number": t.number,
            "category": t.category,
            "priority": t.priority,
            "status": t.status,
            "subject": t.subject,
            "description": t.description,
            "created_at": t.created_at.isoformat(),
            "updated_at": t.updated_at.isoformat(),
            "messages": [
                {
                    "body": m.body,
                    "by_requester": m.author_id == user.pk,
                    "created_at": m.created_at.isoformat(),
                }
                for m in t.messages.all()
            ],
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "created_at": a.created_at.isoformat(),
                }
                for a in t.attachments.all()
            ],
        }
        for t in rows
    ]
