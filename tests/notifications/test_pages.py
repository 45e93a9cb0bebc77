"""Notification pages: the bell, the list (filter, pages, mark read) and "Send a notification",
per role, through the Django test client (live updates: tests/pages/test_notifications_live.py).
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from notifications.kinds import Kind
from notifications.models import Notification
from notifications.services import notify
from tests.factories import UserFactory

LIST = "/account/notifications/"
READ_ALL = "/account/notifications/read-all/"
SEND = "/account/notifications/send/"


def read_url(notification) -> str:
    return f"/account/notifications/{notification.pk}/read/"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make(user, n: int, *, title: str = "Note") -> list[Notification]:
    return [notify(user, Kind.MESSAGE, f"{title} {i}", f"body {i}") for i in range(n)]


def notification_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "notifications_notification" in q["sql"]]


# --- the bell ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bell_shows_the_unread_count_with_one_query():
    ada = UserFactory()
    make(ada, 3)
    Notification.objects.filter(pk=make(ada, 1)[0].pk).update(read_at="2026-01-01T00:00Z")
    with CaptureQueriesContext(connection) as seen:
        page = browser(ada).get("/account/")
    html = page.content.decode()
    assert 'data-testid="notification-bell"' in html
    assert 'data-unread-count>3</span><span class="visually-hidden"> unread</span>' in html
    assert len(notification_queries(seen.captured_queries)) == 1
    assert "notifications/live.js" in html


@pytest.mark.django_db
def test_no_bell_and_no_query_for_anonymous_pages():
    with CaptureQueriesContext(connection) as seen:
        page = Client().get("/accounts/login/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "notification-bell" not in html and "live.js" not in html
    assert notification_queries(seen.captured_queries) == []


# --- the list ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_need_signing_in():
    anonymous = Client()
    for url in (LIST, SEND):
        assert anonymous.get(url).status_code == 302
    made = make(UserFactory(), 1)[0]
    assert anonymous.post(read_url(made)).status_code == 302
    assert anonymous.post(READ_ALL).status_code == 302
    assert Notification.objects.get(pk=made.pk).read_at is None


@pytest.mark.django_db
def test_list_is_own_newest_first_and_paginated():
    ada, bob = UserFactory(), UserFactory()
    make(ada, 30)
    make(bob, 1, title="Bob's secret")
    client = browser(ada)
    first = client.get(LIST)
    html = first.content.decode()
    assert first.status_code == 200
    assert html.count('data-testid="notification"') == 25 + 1  # and the live template's
    assert html.index("Note 29") < html.index("Note 5")
    assert "Bob&#x27;s secret" not in html and "Bob's secret" not in html
    assert "Page 1 of 2" in html
    second = client.get(LIST, {"page": 2}).content.decode()
    assert second.count('data-testid="notification"') == 5
    assert "Note 0" in second and "Note 29" not in second
    # Only the first page takes live items.
    assert "data-live" not in second.split("data-notification-list", 1)[1].split(">", 1)[0]
    # A page number out of range or not a number shows a page, never an error.
    assert client.get(LIST, {"page": "99"}).status_code == 200
    assert client.get(LIST, {"page": "x"}).status_code == 200


@pytest.mark.django_db
def test_unread_filter():
    ada = UserFactory()
    read, unread = make(ada, 2)
    Notification.objects.filter(pk=read.pk).update(read_at="2026-01-01T00:00Z")
    html = browser(ada).get(LIST, {"unread": "1"}).content.decode()
    assert unread.title in html and read.title not in html
    everything = browser(ada).get(LIST).content.decode()
    assert unread.title in everything and read.title in everything


@pytest.mark.django_db
def test_text_is_escaped():
    ada = UserFactory()
    notify(ada, Kind.MESSAGE, "<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
    html = browser(ada).get(LIST).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.django_db
def test_mark_read_and_back_to_the_same_list():
    ada = UserFactory()
    first, second = make(ada, 2)
    client = browser(ada)
    done = client.post(read_url(first), {"unread": "1", "page": "1"})
    assert done.status_code == 302
    assert done["Location"] == f"{LIST}?unread=1&page=1"
    first.refresh_from_db()
    stamp = first.read_at
    assert stamp is not None
    # Idempotent: the first read_at stays.
    client.post(read_url(first))
    first.refresh_from_db()
    assert first.read_at == stamp
    assert Notification.objects.get(pk=second.pk).read_at is None
    # Only a POST; and a return address is never taken from the request as is.
    assert client.get(read_url(second)).status_code == 405
    assert client.post(read_url(second), {"page": "//evil.example"})["Location"] == LIST


@pytest.mark.django_db
def test_mark_read_of_another_users_notification_is_404():
    ada, bob = UserFactory(), UserFactory()
    bobs = make(bob, 1)[0]
    assert browser(ada).post(read_url(bobs)).status_code == 404
    assert browser(ada).post(f"/account/notifications/{uuid.uuid4()}/read/").status_code == 404
    assert Notification.objects.get(pk=bobs.pk).read_at is None


@pytest.mark.django_db
def test_mark_all_read_only_own():
    ada, bob = UserFactory(), UserFactory()
    make(ada, 3)
    make(bob, 2)
    client = browser(ada)
    done = client.post(READ_ALL, follow=True)
    assert "Marked 3 notifications read." in done.content.decode()
    assert not Notification.objects.filter(user=ada, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=bob, read_at__isnull=True).count() == 2
    assert client.get(READ_ALL).status_code == 405


# --- sending -------------------------------------------------------------------------------


def send_page(client) -> str:
    page = client.get(SEND)
    assert page.status_code == 200
    return page.content.decode()


def test_manager_sends_to_the_team_they_lead(world):
    client = browser(world.manager)
    html = send_page(client)
    assert f'value="team:{world.core.pk}"' in html
    assert f'value="team:{world.other.pk}"' not in html
    assert f'value="user:{world.member.pk}"' in html
    assert f'value="user:{world.admin.pk}"' not in html
    assert f'value="user:{world.outsider.pk}"' not in html
    done = client.post(
        SEND,
        {
            "recipient": f"team:{world.core.pk}",
            "title": "Stand-up",
            "message": "At ten.",
            "priority": "high",
        },
        follow=True,
    )
    assert "Sent to 2 people." in done.content.decode()
    got = Notification.objects.filter(kind=Kind.MESSAGE, title="Stand-up")
    assert {n.user_id for n in got} == {world.member.pk, world.spare.pk}
    assert {n.priority for n in got} == {"high"}
    assert {n.from_user_id for n in got} == {world.manager.pk}
    event = AuditEvent.objects.get(action="notification.sent")
    assert event.metadata["delivered_to"] == 2


def test_manager_to_one_member_of_their_team(world):
    done = browser(world.manager).post(
        SEND,
        {"recipient": f"user:{world.spare.pk}", "title": "Hi", "message": "A word."},
    )
    assert done.status_code == 302
    assert Notification.objects.filter(user=world.spare, title="Hi").count() == 1


def test_a_target_not_offered_is_refused_and_nothing_is_sent(world):
    client = browser(world.manager)
    for recipient in (
        f"team:{world.other.pk}",
        f"user:{world.admin.pk}",
        f"user:{world.outsider.pk}",
        f"user:{uuid.uuid4()}",
        "team:not-a-uuid",
        "",
    ):
        refused = client.post(SEND, {"recipient": recipient, "title": "T", "message": "M"})
        assert refused.status_code == 400, recipient
        assert 'id="id_recipient_error"' in refused.content.decode() or "errorlist" in (
            refused.content.decode()
        )
    assert not Notification.objects.filter(kind=Kind.MESSAGE).exists()
    assert not AuditEvent.objects.filter(action="notification.sent").exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"title": "   "}, "This field may not be blank."),
        ({"message": " \n "}, "This field may not be blank."),
        ({"title": "a" * 201}, "at most 200 characters"),
        ({"title": "bell\x07"}, "Control characters are not allowed."),
        ({"message": "nul\x00"}, "Null characters are not allowed."),
        ({"priority": "urgent"}, "Select a valid choice."),
    ],
)
def test_bad_text_is_a_precise_400(world, fields, error):
    body = {"recipient": f"team:{world.core.pk}", "title": "T", "message": "M", **fields}
    refused = browser(world.manager).post(SEND, body)
    assert refused.status_code == 400
    assert error.lower() in refused.content.decode().lower()
    assert not Notification.objects.filter(kind=Kind.MESSAGE).exists()


def test_org_admin_reaches_every_member_and_team(world):
    html = send_page(browser(world.admin))
    for team in (world.core, world.other):
        assert f'value="team:{team.pk}"' in html
    for person in ("owner", "manager", "member", "spare", "spare2"):
        assert f'value="user:{world.person(person).pk}"' in html
    assert f'value="user:{world.admin.pk}"' not in html  # not to themselves
    assert f'value="user:{world.outsider.pk}"' not in html
    done = browser(world.admin).post(
        SEND, {"recipient": f"user:{world.spare2.pk}", "title": "Hello", "message": "Welcome."}
    )
    assert done.status_code == 302
    assert Notification.objects.filter(user=world.spare2, title="Hello").exists()


@pytest.mark.parametrize("person", ["member", "outsider"])
def test_people_who_may_not_send_get_403(world, person):
    client = browser(world.person(person))
    assert client.get(SEND).status_code == 403
    refused = client.post(
        SEND, {"recipient": f"team:{world.core.pk}", "title": "T", "message": "M"}
    )
    assert refused.status_code == 403
    assert not Notification.objects.filter(kind=Kind.MESSAGE).exists()
    assert "Send a notification" not in client.get(LIST).content.decode().split("<main", 1)[1]


def test_list_links_to_the_send_page_for_who_may_send(world):
    html = browser(world.manager).get(LIST).content.decode()
    assert f'href="{SEND}"' in html


def test_a_lead_who_lost_the_team_after_the_page_was_shown_is_refused(world):
    """The page offered a team; its lead lost the lead before sending: 403, nothing sent."""
    from orgs.models import TeamMembership

    client = browser(world.manager)
    assert f'value="team:{world.core.pk}"' in send_page(client)
    TeamMembership.objects.filter(team=world.core, user=world.manager).update(
        role=TeamMembership.Role.MEMBER
    )
    refused = client.post(
        SEND, {"recipient": f"team:{world.core.pk}", "title": "T", "message": "M"}
    )
    assert refused.status_code == 403
    assert not Notification.objects.filter(kind=Kind.MESSAGE).exists()
