"""Support writes under real concurrency: real threads, real PostgreSQL connections."""

import pytest
from django.conf import settings

from audit.models import AuditEvent
from config.errors import Conflict
from support import services
from support.models import Attachment, Message, Ticket
from tests.support.conftest import png_bytes
from tests.threads import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks)"),
    pytest.mark.django_db(transaction=True),
]


def test_parallel_tickets_get_distinct_consecutive_numbers(user_factory):
    people = [user_factory() for _ in range(8)]
    results = race(
        8,
        lambda i: services.ticket_create(
            requester=people[i], category="other", subject=f"T{i}", description="d"
        ),
    )
    assert all(isinstance(r, Ticket) for r in results), results
    assert sorted(Ticket.objects.values_list("number", flat=True)) == list(range(1, 9))
    assert AuditEvent.objects.filter(action="support.ticket.created").count() == 8


def test_parallel_messages_all_land_and_reopen_once(ticket, requester, agent):
    services.ticket_update(ticket=ticket, actor=agent, status="resolved")
    results = race(
        10,
        lambda i: services.message_create(ticket=ticket, author=requester, body=f"ping {i}"),
    )
    assert all(isinstance(r, Message) for r in results), results
    assert Message.objects.filter(ticket=ticket).count() == 10
    ticket.refresh_from_db()
    assert ticket.status == "open"
    reopens = AuditEvent.objects.filter(
        action="support.ticket.updated", metadata__reason="requester_message"
    )
    assert reopens.count() == 1


def test_parallel_uploads_stop_at_five(ticket, requester, settings):
    results = race(
        8,
        lambda i: services.attachment_add(
            ticket=ticket, uploader=requester, name=f"{i}.png", data=png_bytes()
        ),
    )
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(refused) == 3 and {r.code for r in refused} == {"too_many_attachments"}
    assert Attachment.objects.filter(ticket=ticket).count() == 5
    # The refused uploads left no file behind.
    assert len(list((settings.SUPPORT_ATTACHMENT_DIR / str(ticket.pk)).iterdir())) == 5


def test_close_and_requester_message_race_ends_consistent(ticket, requester, agent):
    services.ticket_update(ticket=ticket, actor=agent, status="resolved")

    def work(i):
        if i == 0:
            return services.ticket_update(ticket=ticket, actor=requester, status="closed")
        return services.message_create(ticket=ticket, author=requester, body="still there?")

    results = race(2, work)
    ticket.refresh_from_db()
    message = results[1]
    if isinstance(message, Conflict):
        # The close came first: the message was refused, nothing half-written.
        assert message.code == "ticket_closed" and ticket.status == "closed"
        assert not Message.objects.exists()
    else:
        # The message came first (reopened), then the close.
        assert ticket.status == "closed" and Message.objects.count() == 1
