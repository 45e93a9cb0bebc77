"""Account pages "Support": open with a file, list, detail, reply, close, download; the same
rules as the API (others' tickets 404, internal notes for staff only, files by content)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from support import services
from support.models import Attachment, Message, Ticket
from tests.support.conftest import HTML, png_bytes

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def open_ticket(client, **extra):
    data = {
        "category": "technical",
        "priority": "high",
        "subject": "Export fails",
        "description": "It spins forever.",
        **extra,
    }
    return client.post("/account/support/new/", data)


def test_pages_need_sign_in(ticket):
    for path in ("/account/support/", "/account/support/new/", f"/account/support/{ticket.pk}/"):
        response = Client().get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_open_a_ticket_with_a_screenshot(requester):
    client = signed_in(requester)
    assert b'data-testid="support-nav"' in client.get("/account/support/").content
    response = open_ticket(client, file=SimpleUploadedFile("shot.png", png_bytes(), "image/png"))
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert response["Location"] == f"/account/support/{ticket.pk}/"
    assert (ticket.requester, ticket.priority, ticket.status) == (requester, "high", "open")
    (attachment,) = ticket.attachments.all()
    page = client.get(response["Location"]).content.decode()
    assert "Export fails" in page and "shot.png" in page
    download = client.get(f"/account/support/{ticket.pk}/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == png_bytes()


def test_open_with_a_disguised_file_writes_nothing(requester):
    response = open_ticket(
        signed_in(requester), file=SimpleUploadedFile("shot.png", HTML, "image/png")
    )
    assert response.status_code == 415
    assert "PNG or JPEG" in response.content.decode()
    assert not Ticket.objects.exists() and not Attachment.objects.exists()


def test_open_with_bad_fields_is_400(requester):
    response = open_ticket(signed_in(requester), subject="tab\there")
    assert response.status_code == 400
    assert not Ticket.objects.exists()


def test_requester_sees_the_staff_reply_but_never_the_internal_note(ticket, requester, agent):
    services.message_create(ticket=ticket, author=agent, body="Internal: VIP", internal=True)
    services.message_create(ticket=ticket, author=agent, body="Fixed on our side.")
    page = signed_in(requester).get(f"/account/support/{ticket.pk}/").content.decode()
    assert "Fixed on our side." in page
    assert "VIP" not in page and "Internal note" not in page
    staff_page = signed_in(agent).get(f"/account/support/{ticket.pk}/").content.decode()
    assert "Internal: VIP" in staff_page


def test_reply_reopens_a_resolved_ticket_and_close(ticket, requester, agent):
    services.ticket_update(ticket=ticket, actor=agent, status="resolved")
    client = signed_in(requester)
    response = client.post(f"/account/support/{ticket.pk}/", {"body": "Still failing"})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "open"
    # A requester cannot smuggle an internal note through the page.
    client.post(f"/account/support/{ticket.pk}/", {"body": "psst", "internal": "on"})
    assert not Message.objects.filter(internal=True).exists()
    client.post(f"/account/support/{ticket.pk}/close/")
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    response = client.post(f"/account/support/{ticket.pk}/", {"body": "one more"})
    assert response.status_code == 409
    assert not Message.objects.filter(body="one more").exists()


def test_reply_with_a_refused_file_keeps_nothing(ticket, requester):
    response = signed_in(requester).post(
        f"/account/support/{ticket.pk}/",
        {"body": "see file", "file": SimpleUploadedFile("a.txt", b"\x00\x01bin")},
    )
    assert response.status_code == 415
    assert not Message.objects.exists() and not Attachment.objects.exists()


def test_others_tickets_are_404_on_pages(ticket, other_member, requester):
    attachment = services.attachment_add(
        ticket=ticket, uploader=requester, name="a.png", data=png_bytes()
    )
    client = signed_in(other_member)
    assert client.get(f"/account/support/{ticket.pk}/").status_code == 404
    assert client.post(f"/account/support/{ticket.pk}/", {"body": "x"}).status_code == 404
    assert client.post(f"/account/support/{ticket.pk}/close/").status_code == 404
    path = f"/account/support/{ticket.pk}/attachments/{attachment.pk}/"
    assert client.get(path).status_code == 404
    assert "Cannot sign in" not in client.get("/account/support/").content.decode()
