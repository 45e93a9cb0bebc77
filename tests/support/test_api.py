"""Support API per role and door (JWT, API key with scope, session): tickets, messages,
status moves, attachments (disguised, oversize, the 6th), downloads."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.apikeys import api_key_create
from audit.models import AuditEvent
from support.models import Attachment, Message, Ticket
from support.services import message_create
from tests.accounts.test_auth_helpers import bearer, error_code, login
from tests.support.conftest import HTML, PDF, SVG, png_bytes

pytestmark = pytest.mark.django_db

TICKETS = "/api/v1/support/tickets"


def jwt(user):
    return bearer(login(user)["access"])


def key(user, scopes):
    _, raw = api_key_create(user=user, name="support", scopes=scopes, actor=user)
    return bearer(raw)


def url(ticket, tail=""):
    return f"{TICKETS}/{ticket.pk}{tail}"


def upload(client, ticket, name, data, content_type="image/png"):
    return client.post(
        url(ticket, "/attachments"),
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def test_anonymous_is_401(anon_client, ticket):
    assert anon_client.get(TICKETS).status_code == 401
    assert anon_client.post(TICKETS, {}, format="json").status_code == 401
    assert anon_client.get(url(ticket)).status_code == 401


def test_requester_opens_a_ticket_and_reads_it(requester):
    client = jwt(requester)
    response = client.post(
        TICKETS,
        {"category": "access", "priority": "high", "subject": "No access", "description": "Help"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id", "number", "requester", "category", "priority", "subject", "description",
        "status", "assignee", "messages", "attachments", "created_at", "updated_at",
    }  # fmt: skip
    assert body["status"] == "open" and body["assignee"] is None
    assert body["requester"]["id"] == str(requester.pk)
    assert body["created_at"].endswith("Z")
    assert client.get(f"{TICKETS}/{body['id']}").json()["number"] == body["number"]
    assert client.get(f"{TICKETS}/{body['id']}/").status_code == 200


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"category": "x", "subject": "s", "description": "d"}, "category", "invalid_choice"),
        ({"category": "other", "subject": "", "description": "d"}, "subject", "blank"),
        ({"category": "other", "subject": 5, "description": "d"}, "subject", "invalid"),
        ({"category": "other", "subject": "s"}, "description", "required"),
        ({"category": "other", "subject": "s", "description": "d", "status": "closed"},
         "status", "unknown_field"),
        ({"category": "other", "subject": "s\x07", "description": "d"}, "subject",
         "invalid_characters"),
    ],
)  # fmt: skip
def test_create_bad_input_is_400_and_writes_nothing(requester, body, attr, code):
    response = jwt(requester).post(TICKETS, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == attr
    assert error_code(response) == code
    assert not Ticket.objects.exists()


def test_others_tickets_are_404_and_missing_from_lists(ticket, other_member, manager):
    for user in (other_member, manager):
        client = jwt(user)
        assert client.get(url(ticket)).status_code == 404
        assert client.patch(url(ticket), {"status": "closed"}, format="json").status_code == 404
        assert (
            client.post(url(ticket, "/messages"), {"body": "x"}, format="json").status_code == 404
        )
        assert upload(client, ticket, "a.png", png_bytes()).status_code == 404
        assert client.get(TICKETS).json()["count"] == 0
    assert jwt(other_member).get(f"{TICKETS}/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize("role", ["support", "admin"])
def test_staff_see_every_ticket_and_filter(ticket, requester, user_factory, role):
    staff = user_factory(roles=[role])
    other = Ticket.objects.create(
        number=99, requester=staff, category="billing", priority="urgent", subject="Refund",
        description="Money back", status="pending", assignee=staff,
    )  # fmt: skip
    client = jwt(staff)
    assert client.get(TICKETS).json()["count"] == 2
    assert [t["id"] for t in client.get(f"{TICKETS}?status=pending").json()["results"]] == [
        str(other.pk)
    ]
    assert client.get(f"{TICKETS}?priority=urgent&category=billing").json()["count"] == 1
    assert client.get(f"{TICKETS}?assignee=none").json()["results"][0]["id"] == str(ticket.pk)
    assert client.get(f"{TICKETS}?assignee=me").json()["count"] == 1
    assert client.get(f"{TICKETS}?assignee={staff.pk}").json()["count"] == 1
    assert client.get(f"{TICKETS}?q=sign in").json()["count"] == 1
    assert client.get(f"{TICKETS}?q=%2399").json()["results"][0]["number"] == 99
    assert client.get(f"{TICKETS}?q=requester@example").json()["count"] == 1
    # A number past the column's range is only text (no database error).
    assert client.get(f"{TICKETS}?q=99999999999999").json()["count"] == 0
    for bad in ("status=done", "assignee=someone", "priority=", "page_size=0"):
        response = client.get(f"{TICKETS}?{bad}")
        assert response.status_code == 400, bad


def test_list_query_count_does_not_grow_with_tickets(requester, django_assert_max_num_queries):
    client = jwt(requester)
    for i in range(15):
        ticket = Ticket.objects.create(
            number=i + 1, requester=requester, category="other", subject=f"T{i}", description="d"
        )
        Message.objects.create(ticket=ticket, author=requester, body="hello")
    with django_assert_max_num_queries(12):
        assert client.get(TICKETS).json()["count"] == 15


def test_internal_notes_never_reach_the_requester(ticket, requester, agent):
    staff = jwt(agent)
    response = staff.post(
        url(ticket, "/messages"), {"body": "Looks like fraud", "internal": True}, format="json"
    )
    assert response.status_code == 201 and response.json()["internal"] is True
    staff.post(url(ticket, "/messages"), {"body": "We are on it"}, format="json")
    staff_view = staff.get(url(ticket)).json()["messages"]
    assert [m["body"] for m in staff_view] == ["Looks like fraud", "We are on it"]
    for client in (jwt(requester), key(requester, ["support:read"])):
        for body in (client.get(url(ticket)).json(), client.get(TICKETS).json()["results"][0]):
            assert [m["body"] for m in body["messages"]] == ["We are on it"]
            assert "fraud" not in str(body)


def test_requester_may_not_post_internal_or_non_boolean(ticket, requester):
    client = jwt(requester)
    response = client.post(url(ticket, "/messages"), {"body": "x", "internal": True}, format="json")
    assert response.status_code == 403 and error_code(response) == "internal_staff_only"
    response = client.post(url(ticket, "/messages"), {"body": "x", "internal": 1}, format="json")
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_patch_per_role(ticket, requester, agent):
    client = jwt(requester)
    for body, status, code in (
        ({"status": "resolved"}, 403, "status_not_allowed"),
        ({"priority": "urgent"}, 403, "staff_only"),
        ({"assignee": str(agent.pk)}, 403, "staff_only"),
        ({"status": "archived"}, 400, "invalid_choice"),
        ({"subject": "new"}, 400, "unknown_field"),
    ):
        response = client.patch(url(ticket), body, format="json")
        assert (response.status_code, error_code(response)) == (status, code), body
    staff = jwt(agent)
    response = staff.patch(
        url(ticket), {"status": "pending", "assignee": str(agent.pk), "priority": "high"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["assignee"]["id"] == str(agent.pk)
    response = staff.patch(url(ticket), {"assignee": str(requester.pk)}, format="json")
    assert (response.status_code, error_code(response)) == (400, "invalid_assignee")
    response = staff.patch(url(ticket), {"assignee": str(uuid.uuid4())}, format="json")
    assert (response.status_code, error_code(response)) == (400, "invalid_assignee")
    assert staff.patch(url(ticket), {"assignee": None}, format="json").json()["assignee"] is None
    assert (
        client.patch(url(ticket), {"status": "closed"}, format="json").json()["status"] == "closed"
    )
    response = staff.patch(url(ticket), {"status": "resolved"}, format="json")
    assert (response.status_code, error_code(response)) == (409, "invalid_transition")
    response = client.post(url(ticket, "/messages"), {"body": "again"}, format="json")
    assert (response.status_code, error_code(response)) == (409, "ticket_closed")


def test_api_key_needs_the_support_scopes(ticket, requester):
    wrong = key(requester, ["profile:read"])
    response = wrong.get(TICKETS)
    assert (response.status_code, error_code(response)) == (403, "insufficient_scope")
    reader = key(requester, ["support:read"])
    assert reader.get(url(ticket)).status_code == 200
    response = reader.post(url(ticket, "/messages"), {"body": "x"}, format="json")
    assert (response.status_code, error_code(response)) == (403, "insufficient_scope")
    writer = key(requester, ["support:write"])
    assert writer.post(url(ticket, "/messages"), {"body": "x"}, format="json").status_code == 201
    assert upload(writer, ticket, "shot.png", png_bytes()).status_code == 201


def test_api_key_of_a_member_cannot_act_as_staff(ticket, other_member):
    client = key(other_member, ["support:read", "support:write"])
    assert client.get(url(ticket)).status_code == 404


def test_session_door_needs_csrf_for_writes(ticket, requester):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(requester)
    assert client.get(url(ticket)).status_code == 200
    response = client.post(url(ticket, "/messages"), {"body": "x"}, format="json")
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_attachment_upload_and_download(ticket, requester, agent):
    client = jwt(requester)
    data = png_bytes()
    response = upload(client, ticket, "screenshot.png", data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == "image/png" and body["size"] == len(data)
    assert body["filename"] == "screenshot.png"
    for reader in (client, jwt(agent)):
        download = reader.get(body["download_url"])
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == data
        assert download["Content-Type"] == "image/png"
        assert download["Content-Disposition"].startswith("attachment;")
        assert download["X-Content-Type-Options"] == "nosniff"
    assert client.get(url(ticket)).json()["attachments"][0]["id"] == body["id"]


def test_attachment_download_of_anothers_ticket_is_404(ticket, requester, other_member):
    attachment = upload(jwt(requester), ticket, "a.pdf", PDF, "application/pdf").json()
    assert jwt(other_member).get(attachment["download_url"]).status_code == 404
    # Another ticket's attachment id under the caller's own ticket is 404 too.
    own = (
        jwt(other_member)
        .post(TICKETS, {"category": "other", "subject": "s", "description": "d"}, format="json")
        .json()
    )
    path = f"{TICKETS}/{own['id']}/attachments/{attachment['id']}"
    assert jwt(other_member).get(path).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "declared"),
    [
        ("screenshot.png", HTML, "image/png"),
        ("screenshot.png", SVG, "image/png"),
        ("page.html", HTML, "text/html"),
        ("doc.pdf", b"%PDF-1.4 no end", "application/pdf"),
        ("readme.txt", b"a\x00b", "text/plain"),
    ],
)
def test_disguised_attachments_are_415(ticket, requester, name, data, declared):
    response = upload(jwt(requester), ticket, name, data, declared)
    assert response.status_code == 415
    assert error_code(response) == "unsupported_type"
    assert not Attachment.objects.exists()
    assert not AuditEvent.objects.filter(action="support.attachment.created").exists()


def test_oversize_attachment_is_413(ticket, requester):
    data = png_bytes() + b"\x00" * (5 * 1024 * 1024)
    response = upload(jwt(requester), ticket, "big.png", data)
    assert response.status_code == 413
    assert error_code(response) == "file_too_large"
    assert not Attachment.objects.exists()


def test_body_far_over_the_limit_is_413_from_its_length(ticket, requester):
    data = png_bytes() + b"\x00" * (6 * 1024 * 1024)
    response = upload(jwt(requester), ticket, "huge.png", data)
    assert (response.status_code, error_code(response)) == (413, "file_too_large")
    assert not Attachment.objects.exists()


def test_sixth_attachment_is_409(ticket, requester):
    client = jwt(requester)
    for i in range(5):
        assert upload(client, ticket, f"{i}.png", png_bytes()).status_code == 201
    response = upload(client, ticket, "6.png", png_bytes())
    assert (response.status_code, error_code(response)) == (409, "too_many_attachments")
    assert Attachment.objects.count() == 5


def test_attachment_bad_bodies(ticket, requester):
    client = jwt(requester)
    response = client.post(url(ticket, "/attachments"), {"file": "x"}, format="json")
    assert response.status_code == 415
    response = client.post(url(ticket, "/attachments"), {}, format="multipart")
    assert (response.status_code, error_code(response)) == (400, "required")
    response = client.post(
        url(ticket, "/attachments"),
        {"file": SimpleUploadedFile("a.txt", b"hi"), "note": "x"},
        format="multipart",
    )
    assert (response.status_code, error_code(response)) == (400, "unknown_field")
    response = client.post(
        url(ticket, "/attachments"),
        {"file": [SimpleUploadedFile("a.txt", b"hi"), SimpleUploadedFile("b.txt", b"ho")]},
        format="multipart",
    )
    assert (response.status_code, error_code(response)) == (400, "one_file")
    assert not Attachment.objects.exists()


def test_closed_ticket_takes_no_attachments_from_its_requester(ticket, requester, agent):
    client = jwt(requester)
    client.patch(url(ticket), {"status": "closed"}, format="json")
    response = upload(client, ticket, "a.png", png_bytes())
    assert (response.status_code, error_code(response)) == (409, "ticket_closed")
    message_create(ticket=ticket, author=agent, body="Closing note", internal=True)
    assert upload(jwt(agent), ticket, "b.png", png_bytes()).status_code == 201
