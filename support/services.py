"""Write side of support: every change to a ticket, with its rule, audit event and
notifications, whichever door it came through (API, pages, the admin console).

Status moves (one table, ``TRANSITIONS``):

- support staff move a ticket between ``open``, ``pending`` (waiting on the requester),
  ``resolved`` and ``closed``; a closed ticket can only be reopened (``open``);
- the requester may only close their ticket; their message reopens a ``resolved`` or
  ``pending`` ticket, and a closed ticket takes no more messages or files from them;
- a move to the status the ticket already has changes nothing and records nothing.

Each write locks the ticket's row first, so two messages at once both land and a reopen and
a close cannot interleave.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from audit.services import record
from config.errors import Conflict, Forbidden, Invalid, NotFound
from notifications.kinds import Kind
from notifications.models import MESSAGE_MAX_LENGTH
from notifications.services import notify
from support.content import MAX_ATTACHMENTS_PER_TICKET, check_attachment
from support.models import (
    SUBJECT_MAX_LENGTH,
    TEXT_MAX_LENGTH,
    Attachment,
    Message,
    Ticket,
    attachment_storage,
)
from support.selectors import is_support_staff

logger = logging.getLogger("roster.support")

Status = Ticket.Status

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.OPEN: frozenset({Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.PENDING, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN}),
}
REQUESTER_MAY_SET = frozenset({Status.CLOSED})
# A requester's message brings these back to the support queue.
REOPENED_BY_REQUESTER_MESSAGE = frozenset({Status.RESOLVED, Status.PENDING})

UNSET: Any = object()

CREATE_ERROR_CODES = {400: ["blank", "max_length", "invalid_characters", "invalid_choice"]}
UPDATE_ERROR_CODES = {
    400: ["invalid_assignee", "invalid_choice"],
    403: ["status_not_allowed", "staff_only"],
    409: ["invalid_transition"],
}
MESSAGE_ERROR_CODES = {
    400: ["blank", "max_length", "invalid_characters"],
    403: ["internal_staff_only"],
    409: ["ticket_closed"],
}
ATTACHMENT_ERROR_CODES = {
    400: ["empty", "one_file"],
    409: ["ticket_closed", "too_many_attachments"],
    413: ["file_too_large"],
    415: ["unsupported_type"],
}


def _text(value: Any, *, attr: str, max_length: int, multiline: bool) -> str:
    if not isinstance(value, str):
        raise Invalid("invalid", "Expected a string.", attr=attr)
    value = value.strip()
    if not value:
        raise Invalid("blank", "This field may not be blank.", attr=attr)
    if len(value) > max_length:
        raise Invalid("max_length", f"At most {max_length} characters.", attr=attr)
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value):
        raise Invalid("invalid_characters", "Control characters are not allowed.", attr=attr)
    return value


def _choice(value: Any, choices, *, attr: str) -> str:
    if value not in choices.values:
        raise Invalid("invalid_choice", f"{str(value)[:40]!r} is not a valid choice.", attr=attr)
    return value


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _may_act(ticket: Ticket, actor) -> bool:
    """Staff act on every ticket; anyone else on their own only (others' are 404)."""
    staff = is_support_staff(actor)
    if not staff and ticket.requester_id != actor.pk:
        raise NotFound()
    return staff


def _next_number() -> int:
    return (Ticket.objects.aggregate(n=Max("number"))["n"] or 0) + 1


def check_status_move(current: str, new: str, *, staff: bool) -> None:
    """Raise unless a ticket may go from ``current`` to ``new`` (a different status) by
    staff or by its requester. The admin's form asks this before it saves."""
    if not staff and new not in REQUESTER_MAY_SET:
        raise Forbidden(
            "status_not_allowed",
            "You may only close your ticket; support staff set other statuses.",
            attr="status",
        )
    if new not in TRANSITIONS[current]:
        raise Conflict(
            "invalid_transition", f"A {current} ticket cannot become {new}.", attr="status"
        )


def ticket_create(
    *,
    requester,
    category: str,
    subject: str,
    description: str,
    priority: str = Ticket.Priority.MEDIUM,
    request=None,
) -> Ticket:
    """Open a ticket. Its number is the next free one (a concurrent ticket that took it
    makes this one take the next)."""
    category = _choice(category, Ticket.Category, attr="category")
    priority = _choice(priority, Ticket.Priority, attr="priority")
    subject = _text(subject, attr="subject", max_length=SUBJECT_MAX_LENGTH, multiline=False)
    description = _text(description, attr="description", max_length=TEXT_MAX_LENGTH, multiline=True)
    with transaction.atomic():
        for attempt in range(20):
            try:
                with transaction.atomic():
                    ticket = Ticket.objects.create(
                        number=_next_number(),
                        requester=requester,
                        category=category,
                        priority=priority,
                        subject=subject,
                        description=description,
                    )
                break
            except IntegrityError:
                if attempt == 19:
                    raise
        record(
            action="support.ticket.created",
            actor=requester,
            target=ticket,
            request=request,
            metadata={"number": ticket.number, "category": category, "priority": priority},
        )
    return ticket


def ticket_update(
    *,
    ticket: Ticket,
    actor,
    status: Any = UNSET,
    priority: Any = UNSET,
    assignee: Any = UNSET,
    request=None,
) -> Ticket:
    """Staff change the status, priority and assignee (a support staff member, or None);
    the requester may only close. All or nothing; audited as ``support.ticket.updated``
    with each changed field's old and new value."""
    with transaction.atomic():
        staff = _may_act(ticket, actor)
        ticket = _locked(ticket)
        if not staff:
            for field, value in (("priority", priority), ("assignee", assignee)):
                if value is not UNSET:
                    raise Forbidden("staff_only", f"Only support staff change {field}.", attr=field)
        changes: dict[str, list[Any]] = {}
        if status is not UNSET:
            status = _choice(status, Status, attr="status")
            if status != ticket.status:
                check_status_move(ticket.status, status, staff=staff)
                changes["status"] = [ticket.status, status]
                ticket.status = status
        if priority is not UNSET:
            priority = _choice(priority, Ticket.Priority, attr="priority")
            if priority != ticket.priority:
                changes["priority"] = [ticket.priority, priority]
                ticket.priority = priority
        if assignee is not UNSET:
            if assignee is not None and not is_support_staff(assignee):
                raise Invalid(
                    "invalid_assignee",
                    "Tickets are assigned to support staff only.",
                    attr="assignee",
                )
            new_id = assignee.pk if assignee is not None else None
            if new_id != ticket.assignee_id:
                old = str(ticket.assignee_id) if ticket.assignee_id else None
                changes["assignee"] = [old, str(new_id) if new_id else None]
                ticket.assignee = assignee
        if changes:
            ticket.save(update_fields=[*changes, "updated_at"])
            record(
                action="support.ticket.updated",
                actor=actor,
                target=ticket,
                request=request,
                changes=changes,
                metadata={"number": ticket.number},
            )
    return ticket


def message_create(
    *, ticket: Ticket, author, body: str, internal: bool = False, request=None
) -> Message:
    """Add a message. ``internal`` notes are staff-only and notify nobody. A staff reply
    notifies the requester; a requester's message notifies the assignee and reopens a
    resolved or pending ticket (audited as a ``support.ticket.updated`` by the requester)."""
    body = _text(body, attr="body", max_length=TEXT_MAX_LENGTH, multiline=True)
    if not isinstance(internal, bool):
        raise Invalid("invalid", "Must be a boolean.", attr="internal")
    with transaction.atomic():
        staff = _may_act(ticket, author)
        ticket = _locked(ticket)
        if internal and not staff:
            raise Forbidden(
                "internal_staff_only", "Only support staff write internal notes.", attr="internal"
            )
        by_requester = ticket.requester_id == author.pk
        if ticket.status == Status.CLOSED and not staff:
            raise Conflict("ticket_closed", "This ticket is closed; open a new one.")
        message = Message.objects.create(ticket=ticket, author=author, body=body, internal=internal)
        fields = ["updated_at"]
        if by_requester and not internal and ticket.status in REOPENED_BY_REQUESTER_MESSAGE:
            record(
                action="support.ticket.updated",
                actor=author,
                target=ticket,
                request=request,
                changes={"status": [ticket.status, Status.OPEN]},
                metadata={"number": ticket.number, "reason": "requester_message"},
            )
            ticket.status = Status.OPEN
            fields.append("status")
        ticket.save(update_fields=fields)
        record(
            action="support.message.created",
            actor=author,
            target=message,
            request=request,
            metadata={"ticket": str(ticket.pk), "number": ticket.number, "internal": internal},
        )
        if not internal:
            _notify_reply(ticket, message, by_requester=by_requester)
    return message


def _notify_reply(ticket: Ticket, message: Message, *, by_requester: bool) -> None:
    recipient = ticket.assignee if by_requester else ticket.requester
    if recipient is None or recipient.pk == message.author_id or not recipient.is_active:
        return
    notify(
        recipient,
        Kind.SUPPORT_REPLY,
        format_lazy(_("New reply on support ticket #{number}"), number=ticket.number),
        f"{ticket.subject}\n\n{message.body}"[:MESSAGE_MAX_LENGTH],
        data={"ticket": str(ticket.pk), "number": ticket.number},
        from_user=message.author,
    )


def attachment_add(*, ticket: Ticket, uploader, name: str, data: bytes, request=None) -> Attachment:
    """Store a file checked by its content (``support.content``): at most
    ``MAX_ATTACHMENTS_PER_TICKET`` per ticket. The file is written inside the ticket's lock
    and removed again if the row does not commit."""
    checked = check_attachment(name=name, data=data)
    stored: list[str] = []
    try:
        with transaction.atomic():
            staff = _may_act(ticket, uploader)
            ticket = _locked(ticket)
            if ticket.status == Status.CLOSED and not staff:
                raise Conflict("ticket_closed", "This ticket is closed; open a new one.")
            if ticket.attachments.count() >= MAX_ATTACHMENTS_PER_TICKET:
                raise Conflict(
                    "too_many_attachments",
                    f"A ticket holds at most {MAX_ATTACHMENTS_PER_TICKET} files.",
                    attr="file",
                )
            attachment = Attachment(
                id=uuid.uuid4(),
                ticket=ticket,
                uploaded_by=uploader,
                filename=checked.filename,
                content_type=checked.content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
            attachment.file.save(f"{ticket.pk}/{attachment.pk}", ContentFile(data), save=False)
            stored.append(attachment.file.name)
            attachment.save()
            ticket.save(update_fields=["updated_at"])
            record(
                action="support.attachment.created",
                actor=uploader,
                target=attachment,
                request=request,
                metadata={
                    "ticket": str(ticket.pk),
                    "number": ticket.number,
                    "content_type": checked.content_type,
                    "size": len(data),
                    "sha256": attachment.sha256,
                },
            )
    except BaseException:
        for name_stored in stored:
            _delete_file(name_stored)
        raise
    return attachment


def _delete_file(name: str) -> None:
    try:
        attachment_storage().delete(name)
    except OSError:
        logger.exception("support attachment file not removed", extra={"file": name})


def tickets_erase_for_user(*, user) -> None:
    """Registered with ``accounts.hooks``: an erased person's tickets go entirely (their
    text, messages and files are about them); on others' tickets their messages stay
    without an author, their files without an uploader, and they are nobody's assignee.
    Each deleted ticket is audited ``support.ticket.deleted`` (reason ``erasure``); the files
    are removed once the erasure commits."""
    tickets = list(Ticket.objects.select_for_update().filter(requester_id=user.pk))
    files = list(
        Attachment.objects.filter(ticket__requester_id=user.pk).values_list("file", flat=True)
    )
    for ticket in tickets:
        record(
            action="support.ticket.deleted",
            target=ticket,
            metadata={"number": ticket.number, "reason": "erasure"},
        )
    Ticket.objects.filter(requester_id=user.pk).delete()
    Message.objects.filter(author_id=user.pk).update(author=None)
    Attachment.objects.filter(uploaded_by_id=user.pk).update(uploaded_by=None)
    Ticket.objects.filter(assignee_id=user.pk).update(assignee=None)
    transaction.on_commit(lambda: [_delete_file(name) for name in files])
