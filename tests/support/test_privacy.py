"""A person's tickets in their data export, and gone when their account is erased."""

import pytest
from django.db import transaction

from accounts.export import user_export
from accounts.services.erasure import user_erase, user_request_erasure
from audit.models import AuditEvent
from support import services
from support.models import Attachment, Message, Ticket
from tests.support.conftest import png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_export_holds_own_tickets_without_internal_notes(ticket, requester, agent, other_member):
    services.message_create(ticket=ticket, author=agent, body="Secret staff note", internal=True)
    services.message_create(ticket=ticket, author=agent, body="Try again now")
    services.attachment_add(ticket=ticket, uploader=requester, name="shot.png", data=png_bytes())
    services.ticket_create(
        requester=other_member, category="other", subject="Not mine", description="x"
    )
    section = user_export(user=requester)["support_tickets"]
    assert [t["subject"] for t in section] == ["Cannot sign in"]
    (exported,) = section
    assert [m["body"] for m in exported["messages"]] == ["Try again now"]
    assert exported["attachments"][0]["filename"] == "shot.png"
    assert "Secret staff note" not in str(user_export(user=requester))


def test_erasure_deletes_the_requesters_tickets_and_files_and_unnames_the_agent(
    ticket, requester, agent, user_factory, settings
):
    services.message_create(ticket=ticket, author=requester, body="My phone is 555-0100")
    services.attachment_add(ticket=ticket, uploader=requester, name="shot.png", data=png_bytes())
    folder = settings.SUPPORT_ATTACHMENT_DIR / str(ticket.pk)
    assert len(list(folder.iterdir())) == 1
    # The agent, erased too, answered someone else's ticket: the answer stays, unnamed.
    other = user_factory(roles=["member"])
    kept = services.ticket_create(requester=other, category="other", subject="s", description="d")
    services.ticket_update(ticket=kept, actor=agent, assignee=agent)
    services.message_create(ticket=kept, author=agent, body="Done")
    for person in (requester, agent):
        user_request_erasure(user=person, actor=person)
        person.refresh_from_db()
        assert user_erase(user_id=person.pk, now=person.erasure_due_at) is True
    assert not Ticket.objects.filter(requester=requester).exists()
    assert not Message.objects.filter(body__contains="555-0100").exists()
    assert not Attachment.objects.filter(ticket_id=ticket.pk).exists()
    assert list(folder.iterdir()) == []
    kept.refresh_from_db()
    assert kept.assignee is None
    assert Message.objects.get(ticket=kept).author is None
    deleted = AuditEvent.objects.get(action="support.ticket.deleted")
    assert deleted.target_id == str(ticket.pk) and deleted.metadata["reason"] == "erasure"


def test_failed_erasure_keeps_the_files(ticket, requester, settings, monkeypatch):
    services.attachment_add(ticket=ticket, uploader=requester, name="shot.png", data=png_bytes())
    folder = settings.SUPPORT_ATTACHMENT_DIR / str(ticket.pk)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.tickets_erase_for_user(user=requester)
        raise RuntimeError("a later erasure step failed")
    assert Ticket.objects.filter(pk=ticket.pk).exists()
    assert len(list(folder.iterdir())) == 1
