"""The Django admin shows notifications and changes none."""

import pytest
from django.test import Client

from notifications.kinds import Kind
from notifications.services import notify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/notifications/notification/"


def test_admin_lists_and_shows_notifications_read_only(admin_user):
    alice = UserFactory(email="alice@example.com")
    note = notify(alice, Kind.MESSAGE, "Quarterly review", "Friday")
    client = Client()
    client.force_login(admin_user)
    listing = client.get(LIST, {"q": "alice@"})
    assert listing.status_code == 200 and b"Quarterly review" in listing.content
    detail = client.get(f"{LIST}{note.pk}/change/")
    assert detail.status_code == 200
    assert b'name="title"' not in detail.content  # shown, not editable
    assert client.get(f"{LIST}add/").status_code == 403
    posted = client.post(f"{LIST}{note.pk}/change/", {"title": "Changed"})
    assert posted.status_code == 403
    assert client.post(f"{LIST}{note.pk}/delete/", {"post": "yes"}).status_code == 403
    note.refresh_from_db()
    assert note.title == "Quarterly review"


def test_admin_is_closed_to_members(member):
    client = Client()
    client.force_login(member)
    assert client.get(LIST).status_code == 302
