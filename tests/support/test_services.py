"""Support services: numbers, status moves per role, messages, attachments, audit,
notifications."""

import pytest

from audit.models import AuditEvent
from config.errors import Conflict, Forbidden, Invalid, NotFound
from notifications.models import Notification
from support import services
from support.models import Attachment, Ticket
from tests.factories import UserFactory
from tests.support.conftest import HTML, png_bytes

pytestmark = pytest.mark.django_db


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("occurred_at"))


def test_ticket_create_numbers_tickets_in_order_and_audits(requester):
    first = services.ticket_create(
        requester=requester, category="billing", subject="Invoice", description="Wrong total"
    )
    second = services.ticket_create(
        requester=requester, category="other", subject="Hello", description="Question"
    )
    assert (first.number, second.number) == (1, 2) or second.number == first.number + 1
    assert first.status == "open" and first.priority == "medium" and first.assignee is None
    events = _events("support.ticket.created")
    assert [e.target_id for e in events] == [str(first.pk), str(second.pk)]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("subject", "   ", "blank"),
        ("subject", "a" * 201, "max_length"),
        ("subject", "line\nbreak", "invalid_characters"),
        ("description", "bell \x07", "invalid_characters"),
        ("category", "sales", "invalid_choice"),
        ("priority", "critical", "invalid_choice"),
    ],
)
def test_ticket_create_refuses_bad_input_and_writes_nothing(requester, field, value, code):
    params = {"category": "technical", "subject": "S", "description": "D", field: value}
    with pytest.raises(Invalid) as caught:
        services.ticket_create(requester=requester, **params)
    assert caught.value.code == code and caught.value.attr == field
    assert not Ticket.objects.exists() and not _events("support.ticket.created")


def test_staff_moves_status_priority_and_assignee_with_one_audit_event(ticket, agent):
    services.ticket_update(
        ticket=ticket, actor=agent, status="pending", priority="urgent", assignee=agent
    )
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("pending", "urgent", agent.pk)
    (event,) = _events("support.ticket.updated")
    assert event.actor_id == str(agent.pk)
    assert event.changes == {
        "status": ["open", "pending"],
        "priority": ["medium", "urgent"],
        "assignee": [None, str(agent.pk)],
    }


def test_setting_the_same_values_changes_nothing_and_records_nothing(ticket, agent):
    services.ticket_update(ticket=ticket, actor=agent, status="open", priority="medium")
    assert not _events("support.ticket.updated")


def test_closed_ticket_can_only_be_reopened(ticket, agent):
    services.ticket_update(ticket=ticket, actor=agent, status="closed")
    for status in ("pending", "resolved"):
        with pytest.raises(Conflict) as caught:
            services.ticket_update(ticket=ticket, actor=agent, status=status)
        assert caught.value.code == "invalid_transition"
    services.ticket_update(ticket=ticket, actor=agent, status="open")
    ticket.refresh_from_db()
    assert ticket.status == "open"


@pytest.mark.parametrize("status", ["pending", "resolved", "open"])
def test_requester_may_not_make_staff_status_moves(ticket, requester, agent, status):
    if status == "open":
        services.ticket_update(ticket=ticket, actor=agent, status="resolved")
    with pytest.raises(Forbidden) as caught:
        services.ticket_update(ticket=ticket, actor=requester, status=status)
    assert caught.value.code == "status_not_allowed"


@pytest.mark.parametrize(("field", "value"), [("priority", "urgent"), ("assignee", None)])
def test_requester_may_not_change_priority_or_assignee(ticket, requester, field, value):
    with pytest.raises(Forbidden) as caught:
        services.ticket_update(ticket=ticket, actor=requester, **{field: value})
    assert caught.value.code == "staff_only"
    ticket.refresh_from_db()
    assert ticket.priority == "medium"


def test_requester_closes_their_ticket(ticket, requester):
    services.ticket_update(ticket=ticket, actor=requester, status="closed")
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    with pytest.raises(Conflict) as caught:
        services.message_create(ticket=ticket, author=requester, body="one more thing")
    assert caught.value.code == "ticket_closed"


def test_another_member_cannot_touch_the_ticket(ticket, other_member):
    with pytest.raises(NotFound):
        services.ticket_update(ticket=ticket, actor=other_member, status="closed")
    with pytest.raises(NotFound):
        services.message_create(ticket=ticket, author=other_member, body="hi")
    with pytest.raises(NotFound):
        services.attachment_add(
            ticket=ticket, uploader=other_member, name="a.png", data=png_bytes()
        )


def test_assignee_must_be_support_staff(ticket, agent, manager, admin_user):
    with pytest.raises(Invalid) as caught:
        services.ticket_update(ticket=ticket, actor=agent, assignee=manager)
    assert caught.value.code == "invalid_assignee"
    services.ticket_update(ticket=ticket, actor=agent, assignee=admin_user)
    ticket.refresh_from_db()
    assert ticket.assignee == admin_user


def test_staff_reply_notifies_the_requester_and_internal_note_nobody(ticket, requester, agent):
    services.message_create(ticket=ticket, author=agent, body="Internal: check logs", internal=True)
    assert not Notification.objects.filter(user=requester).exists()
    services.message_create(ticket=ticket, author=agent, body="Please reset your password.")
    (note,) = Notification.objects.filter(user=requester)
    assert note.kind == "support_reply"
    assert "Please reset your password." in note.message
    assert "Internal" not in note.message
    assert note.data == {"ticket": str(ticket.pk), "number": ticket.number}
    events = _events("support.message.created")
    assert [e.metadata["internal"] for e in events] == [True, False]
    # The text of a message is never copied into the audit log.
    assert all("check logs" not in str(e.metadata) for e in events)


def test_requester_message_reopens_a_resolved_ticket_and_notifies_the_assignee(
    ticket, requester, agent
):
    services.ticket_update(ticket=ticket, actor=agent, status="resolved", assignee=agent)
    services.message_create(ticket=ticket, author=requester, body="Still broken")
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert Notification.objects.filter(user=agent, kind="support_reply").count() == 1
    reopen = _events("support.ticket.updated")[-1]
    assert reopen.changes == {"status": ["resolved", "open"]}
    assert reopen.actor_id == str(requester.pk)


def test_requester_may_not_write_internal_notes(ticket, requester):
    with pytest.raises(Forbidden) as caught:
        services.message_create(ticket=ticket, author=requester, body="x", internal=True)
    assert caught.value.code == "internal_staff_only"
    assert not ticket.messages.exists()


def test_attachments_stop_at_five_and_a_refused_file_leaves_nothing(ticket, requester, settings):
    for i in range(5):
        services.attachment_add(
            ticket=ticket, uploader=requester, name=f"{i}.png", data=png_bytes()
        )
    stored = sorted(p.name for p in (settings.SUPPORT_ATTACHMENT_DIR / str(ticket.pk)).iterdir())
    assert len(stored) == 5
    with pytest.raises(Conflict) as caught:
        services.attachment_add(ticket=ticket, uploader=requester, name="6.png", data=png_bytes())
    assert caught.value.code == "too_many_attachments"
    assert Attachment.objects.filter(ticket=ticket).count() == 5
    assert len(list((settings.SUPPORT_ATTACHMENT_DIR / str(ticket.pk)).iterdir())) == 5
    assert len(_events("support.attachment.created")) == 5


def test_disguised_attachment_is_refused_before_anything_is_stored(ticket, requester):
    from support.content import UnsupportedType

    with pytest.raises(UnsupportedType):
        services.attachment_add(ticket=ticket, uploader=requester, name="shot.png", data=HTML)
    assert not Attachment.objects.exists()


def test_support_role_gives_support_manage_and_admin_access(agent, admin_user, member, manager):
    assert agent.has_perm("support.manage") and agent.is_staff
    assert admin_user.has_perm("support.manage")
    assert not member.has_perm("support.manage")
    assert not manager.has_perm("support.manage")
    assert UserFactory(roles=["member", "support"]).has_perm("support.manage")
