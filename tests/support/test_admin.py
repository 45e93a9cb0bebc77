"""The agents' console in the Django admin: queues, assign, reply, internal note, actions,
downloads; through the services (audit, notifications)."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from notifications.models import Notification
from support import services
from support.models import Message, Ticket
from tests.support.conftest import png_bytes

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/support/ticket/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(ticket):
    return f"{CHANGELIST}{ticket.pk}/change/"


def form(ticket, **extra):
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": str(ticket.assignee_id or ""),
        "reply": "",
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": str(ticket.messages.count()),
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": str(ticket.attachments.count()),
        **extra,
    }


def test_queue_lists_urgent_first_and_filters(ticket, requester, agent):
    urgent = services.ticket_create(
        requester=requester, category="billing", priority="urgent", subject="Charged twice",
        description="x",
    )  # fmt: skip
    client = signed_in(agent)
    page = client.get(CHANGELIST).content.decode()
    assert page.index("Charged twice") < page.index("Cannot sign in")
    assert "Cannot sign in" not in client.get(CHANGELIST + "?priority=urgent").content.decode()
    assert "Charged twice" in client.get(CHANGELIST + "?assigned=none").content.decode()
    assert urgent.number == ticket.number + 1


def test_members_and_managers_have_no_console(ticket, member, manager):
    assert signed_in(member).get(CHANGELIST).status_code == 302
    assert signed_in(manager).get(CHANGELIST).status_code == 403
    assert signed_in(manager).get(change_url(ticket)).status_code == 403


def test_agent_assigns_and_replies_through_the_services(ticket, requester, agent):
    client = signed_in(agent)
    response = client.post(
        change_url(ticket),
        form(ticket, status="pending", assignee=str(agent.pk), reply="Which browser?"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == ("pending", agent)
    assert Message.objects.get().body == "Which browser?"
    assert Notification.objects.filter(user=requester, kind="support_reply").count() == 1
    assert AuditEvent.objects.filter(action="support.ticket.updated").count() == 1
    assert AuditEvent.objects.filter(action="support.message.created").count() == 1


def test_agent_writes_an_internal_note(ticket, requester, agent):
    client = signed_in(agent)
    client.post(change_url(ticket), form(ticket, reply="Known bug 123", internal="on"))
    assert Message.objects.get().internal is True
    assert not Notification.objects.filter(user=requester).exists()


def test_invalid_transition_is_a_form_error(ticket, agent):
    services.ticket_update(ticket=ticket, actor=agent, status="closed")
    ticket.refresh_from_db()
    response = signed_in(agent).post(change_url(ticket), form(ticket, status="resolved"))
    assert response.status_code == 200
    assert "cannot become resolved" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == "closed"


def test_assignee_choices_are_support_staff_only(ticket, agent, member):
    response = signed_in(agent).post(change_url(ticket), form(ticket, assignee=str(member.pk)))
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_actions_assign_to_me_and_resolve(ticket, agent):
    client = signed_in(agent)
    for action in ("assign_to_me", "mark_resolved"):
        client.post(CHANGELIST, {"action": action, "_selected_action": [str(ticket.pk)]})
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.status) == (agent, "resolved")


def test_admin_download_is_for_staff(ticket, requester, agent, manager):
    attachment = services.attachment_add(
        ticket=ticket, uploader=requester, name="a.png", data=png_bytes()
    )
    path = f"{CHANGELIST}{ticket.pk}/attachments/{attachment.pk}/"
    response = signed_in(agent).get(path)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert signed_in(manager).get(path).status_code == 404
    assert Ticket.objects.count() == 1
