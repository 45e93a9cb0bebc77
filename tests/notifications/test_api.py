from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from notifications.kinds import Kind
from notifications.models import MESSAGE_MAX_LENGTH, Notification
from notifications.services import notify
from tests.factories import UserFactory
from tests.notifications.conftest import assert_error, jwt_client, key_client

LIST = "/api/v1/notifications"
COUNT = "/api/v1/notifications/unread-count"
READ_ALL = "/api/v1/notifications/read-all"
SEND = "/api/v1/notifications/send"


def read_url(notification) -> str:
    return f"/api/v1/notifications/{notification.pk}/read"


@pytest.fixture
def alice(db):
    return UserFactory(email="alice@example.com")


@pytest.fixture
def bob(db):
    return UserFactory(email="bob@example.com")


@pytest.fixture
def root(db):
    return UserFactory(email="root@example.com", roles=["admin"])


def make(user, n: int, **kwargs) -> list[Notification]:
    return [notify(user, Kind.MESSAGE, f"Note {i}", f"Body {i}", **kwargs) for i in range(n)]


def all_pages(client, url: str) -> list[dict]:
    results, seen = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        results += body["results"]
        url, seen = body["next"], seen + 1
        assert seen < 50
    return results


@pytest.mark.django_db
@pytest.mark.parametrize("method,url", [("get", LIST), ("get", COUNT), ("post", READ_ALL)])
def test_endpoints_anonymous_401(method, url):
    assert_error(getattr(APIClient(), method)(url), 401, "not_authenticated")


def test_notifications_list_own_newest_first_with_cursor(alice, bob):
    mine = make(alice, 7)
    make(bob, 3)
    client = jwt_client(alice)
    first = client.get(LIST, {"page_size": 3}).json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 3 and first["next"]
    rows = all_pages(client, f"{LIST}?page_size=3")
    assert [r["id"] for r in rows] == [str(n.pk) for n in reversed(mine)]
    shown = rows[0]
    assert set(shown) == {
        "id",
        "kind",
        "title",
        "message",
        "priority",
        "data",
        "from_user",
        "created_at",
        "read_at",
    }
    assert shown["kind"] == "message" and shown["priority"] == "medium"
    assert shown["created_at"].endswith("Z") and shown["read_at"] is None


def test_notifications_list_unread_filter_and_count(alice):
    first, second, third = make(alice, 3)
    client = jwt_client(alice)
    assert client.post(read_url(second)).status_code == 204
    unread = client.get(LIST, {"unread": "true"}).json()["results"]
    assert [r["id"] for r in unread] == [str(third.pk), str(first.pk)]
    assert len(client.get(LIST, {"unread": "false"}).json()["results"]) == 3
    assert client.get(COUNT).json() == {"unread": 2}
    assert_error(client.get(LIST, {"unread": "maybe"}), 400, "invalid", "unread")
    assert_error(client.get(LIST, {"unread": ""}), 400, "blank", "unread")


def test_notifications_list_queries_do_not_grow(alice, bob, django_assert_max_num_queries):
    make(alice, 40, from_user=bob)
    client = jwt_client(alice)
    with django_assert_max_num_queries(8):
        assert len(client.get(LIST, {"page_size": 40}).json()["results"]) == 40


def test_notification_read_sets_read_at_once(alice):
    (note,) = make(alice, 1)
    client = jwt_client(alice)
    assert client.post(read_url(note)).status_code == 204
    note.refresh_from_db()
    first = note.read_at
    assert first is not None
    assert client.post(read_url(note)).status_code == 204
    note.refresh_from_db()
    assert note.read_at == first


def test_notification_read_of_another_user_is_404(alice, bob):
    (theirs,) = make(bob, 1)
    response = jwt_client(alice).post(read_url(theirs))
    assert_error(response, 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert_error(jwt_client(alice).post(f"{LIST}/{uuid.uuid4()}/read"), 404, "not_found")


def test_notifications_read_all_only_own(alice, bob):
    make(alice, 4)
    make(bob, 2)
    response = jwt_client(alice).post(READ_ALL)
    assert response.status_code == 204 and response.content == b""
    assert Notification.objects.filter(user=alice, read_at__isnull=True).count() == 0
    assert Notification.objects.filter(user=bob, read_at__isnull=True).count() == 2


def test_notifications_api_key_scopes(alice):
    make(alice, 2)
    reader = key_client(alice, ["notifications:read"])
    assert reader.get(LIST).status_code == 200
    assert reader.get(COUNT).json() == {"unread": 2}
    assert_error(reader.post(READ_ALL), 403, "insufficient_scope")
    other_scope = key_client(alice, ["profile:read"])
    assert_error(other_scope.get(LIST), 403, "insufficient_scope")
    writer = key_client(alice, ["notifications:read", "notifications:write"])
    assert writer.post(READ_ALL).status_code == 204


# --- send -------------------------------------------------------------------------------


def send(client, **body):
    body.setdefault("title", "Stand-up moved")
    body.setdefault("message", "Tomorrow at 10.")
    return client.post(SEND, body, format="json")


def test_send_manager_to_their_team(world):
    response = send(jwt_client(world.manager), team=str(world.core.pk), priority="high")
    assert response.status_code == 202, response.content
    assert response.json() == {"delivered_to": 2}
    got = Notification.objects.filter(kind=Kind.MESSAGE).order_by("user__email")
    assert [n.user for n in got] == [world.member, world.spare]
    assert all(n.from_user == world.manager and n.priority == "high" for n in got)
    event = AuditEvent.objects.get(action="notification.sent")
    assert event.actor_id == str(world.manager.pk)
    assert event.target_id == str(world.core.pk)
    assert event.metadata["delivered_to"] == 2


def test_send_manager_to_member_of_led_team_and_not_others(world):
    client = jwt_client(world.manager)
    assert send(client, target_user=str(world.member.pk)).status_code == 202
    # In the organization, but not in a team the manager leads.
    assert_error(send(client, target_user=str(world.spare2.pk)), 403, "permission_denied")
    assert_error(send(client, team=str(world.other.pk)), 403, "permission_denied")
    # Shares no organization with the manager: not found, not forbidden.
    assert_error(send(client, target_user=str(world.outsider.pk)), 404, "not_found")
    assert Notification.objects.filter(user=world.spare2, kind=Kind.MESSAGE).count() == 0


def test_send_org_admin_to_any_member(world):
    client = jwt_client(world.admin)
    assert send(client, target_user=str(world.spare2.pk)).status_code == 202
    # The team's lead (the manager) and its two members.
    assert send(client, team=str(world.core.pk)).json() == {"delivered_to": 3}
    assert_error(send(client, target_user=str(world.outsider.pk)), 404, "not_found")


def test_send_member_is_forbidden(world):
    client = jwt_client(world.member)
    assert_error(send(client, target_user=str(world.spare.pk)), 403, "permission_denied")
    assert_error(send(client, team=str(world.core.pk)), 403, "permission_denied")
    assert not Notification.objects.filter(kind=Kind.MESSAGE).exists()
    assert not AuditEvent.objects.filter(action="notification.sent").exists()


def test_send_outsider_sees_no_team_404(world):
    assert_error(send(jwt_client(world.outsider), team=str(world.core.pk)), 404, "not_found")


def test_send_platform_admin_to_anyone(world, root):
    response = send(jwt_client(root), target_user=str(world.outsider.pk))
    assert response.json() == {"delivered_to": 1}
    assert Notification.objects.get(user=world.outsider, kind=Kind.MESSAGE).from_user == root


def test_send_unknown_target_404(world, root):
    for client in (jwt_client(root), jwt_client(world.admin)):
        assert_error(send(client, target_user=str(uuid.uuid4())), 404, "not_found")
        assert_error(send(client, team=str(uuid.uuid4())), 404, "not_found")


def test_send_api_key_needs_write_scope(world):
    reader = key_client(world.admin, ["notifications:read"])
    assert_error(send(reader, target_user=str(world.member.pk)), 403, "insufficient_scope")
    writer = key_client(world.admin, ["notifications:write"])
    assert send(writer, target_user=str(world.member.pk)).status_code == 202


@pytest.mark.parametrize(
    "body,code,attr",
    [
        ({"title": ""}, "blank", "title"),
        ({"title": "   "}, "blank", "title"),
        ({"message": "x" * (MESSAGE_MAX_LENGTH + 1)}, "max_length", "message"),
        ({"title": "t" * 201}, "max_length", "title"),
        ({"priority": "urgent"}, "invalid_choice", "priority"),
        ({"title": 5}, "invalid", "title"),
        ({"title": "bell\x07"}, "invalid_characters", "title"),
        ({"data": [1, 2]}, "not_a_dict", "data"),
        ({"data": {"blob": "x" * 9000}}, "max_length", "data"),
        ({"extra": 1}, "unknown_field", "extra"),
        ({"target_user": "nope"}, "invalid", "target_user"),
    ],
)
def test_send_bad_input_400(world, body, code, attr):
    body = {"target_user": str(world.member.pk), **body}
    assert_error(send(jwt_client(world.admin), **body), 400, code, attr)
    assert not Notification.objects.filter(kind=Kind.MESSAGE).exists()


def test_send_needs_exactly_one_target(world):
    client = jwt_client(world.admin)
    assert_error(send(client), 400, "target_required")
    both = send(client, target_user=str(world.member.pk), team=str(world.core.pk))
    assert_error(both, 400, "target_required")


def test_send_null_byte_400(world):
    target = str(world.member.pk)
    raw = ('{"target_user": "' + target + '", "title": "a\\u0000b", "message": "m"}').encode()
    response = jwt_client(world.admin).post(SEND, raw, content_type="application/json")
    assert response.status_code == 400
    assert not Notification.objects.filter(kind=Kind.MESSAGE).exists()
