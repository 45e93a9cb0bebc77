import datetime
import uuid

import pytest
import time_machine
from django.test import RequestFactory

from audit.models import AuditEvent
from audit.services import events_seal, record
from tests.audit.conftest import bypassing_triggers

EVENTS = "/api/v1/audit/events"
VERIFY = "/api/v1/audit/verify"


def _as(user, action, **kwargs):
    request = RequestFactory().get("/", HTTP_USER_AGENT="ua", REMOTE_ADDR="192.0.2.1")
    request.user = user
    request.request_id = "rid-" + action
    return record(action=action, request=request, **kwargs)


@pytest.fixture
def log(member, other_member, admin_user):
    """A small log: the member acts, is acted on, and others act among themselves."""
    return {
        "own": _as(member, "slot.created", target=("slot", "s-1")),
        "on_me": _as(admin_user, "user.updated", target=member, changes={"status": ["a", "b"]}),
        "other": _as(other_member, "slot.created", target=("slot", "s-2")),
        "admin": _as(admin_user, "auth.login.succeeded", target=admin_user),
        "login": _as(member, "auth.login.succeeded", target=member),
    }


def _ids(response):
    return [item["id"] for item in response.json()["results"]]


@pytest.mark.django_db
def test_audit_events_requires_authentication(anon_client):
    response = anon_client.get(EVENTS)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_audit_events_member_sees_only_events_as_actor_or_target(client_for, member, log):
    response = client_for(member).get(EVENTS)
    assert response.status_code == 200
    ids = _ids(response)
    assert set(ids) >= {str(log[k].uuid) for k in ("own", "on_me", "login")}
    assert str(log["other"].uuid) not in ids and str(log["admin"].uuid) not in ids
    visible = AuditEvent.objects.filter(uuid__in=ids)
    assert all(str(member.pk) in (e.actor_id, e.target_id) for e in visible)


@pytest.mark.django_db
def test_audit_events_member_cannot_reach_others_events_through_filters(
    client_for, member, other_member, log
):
    client = client_for(member)
    assert _ids(client.get(EVENTS, {"actor": str(other_member.pk)})) == []
    assert _ids(client.get(EVENTS, {"target": "slot:s-2"})) == []


@pytest.mark.django_db
def test_audit_events_admin_sees_all(client_for, admin_user, log):
    ids = _ids(client_for(admin_user).get(EVENTS, {"page_size": 200}))
    assert {str(e.uuid) for e in log.values()} <= set(ids)


@pytest.mark.django_db
def test_audit_events_shape(client_for, member, admin_user, log):
    response = client_for(member).get(EVENTS, {"action": "user.updated"})
    (item,) = response.json()["results"]
    assert set(response.json()) == {"next", "previous", "results"}
    assert item == {
        "id": str(log["on_me"].uuid),
        "occurred_at": log["on_me"].occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": "user.updated",
        "actor": {"type": "user", "id": str(admin_user.pk), "display": admin_user.email},
        "target": {"type": "user", "id": str(member.pk)},
        "ip": "192.0.2.1",
        "user_agent": "ua",
        "request_id": "rid-user.updated",
        "changes": {"status": ["a", "b"]},
        "metadata": {},
    }


@pytest.mark.django_db
def test_audit_events_system_event_has_null_actor_id_and_target(client_for, admin_user):
    record(action="usage.rollup")
    (item,) = client_for(admin_user).get(EVENTS, {"action": "usage.rollup"}).json()["results"]
    assert item["actor"] == {"type": "system", "id": None, "display": None}
    assert item["target"] == {"type": None, "id": None}


@pytest.mark.django_db
def test_audit_events_filters(client_for, admin_user, member, log):
    client = client_for(admin_user)
    assert set(_ids(client.get(EVENTS, {"action": "auth.login.succeeded"}))) == {
        str(log["admin"].uuid),
        str(log["login"].uuid),
    }
    prefixed = _ids(client.get(EVENTS, {"action": "auth."}))
    assert prefixed == _ids(client.get(EVENTS, {"action": "auth.*"}))
    assert str(log["login"].uuid) in prefixed and str(log["own"].uuid) not in prefixed
    assert _ids(client.get(EVENTS, {"action": "auth"})) == []  # no dot, no star: exact
    by_actor = _ids(client.get(EVENTS, {"actor": str(member.pk)}))
    assert set(by_actor) == {str(log["own"].uuid), str(log["login"].uuid)}
    assert _ids(client.get(EVENTS, {"target": "slot:s-1"})) == [str(log["own"].uuid)]
    assert _ids(client.get(EVENTS, {"target": "s-2"})) == [str(log["other"].uuid)]
    assert _ids(client.get(EVENTS, {"target": "user:s-2"})) == []


@pytest.mark.django_db
def test_audit_events_since_until(client_for, admin_user):
    t0 = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    made = []
    for day in range(3):
        with time_machine.travel(t0 + datetime.timedelta(days=day), tick=False):
            made.append(record(action="test.timed"))
    client = client_for(admin_user)
    got = _ids(
        client.get(
            EVENTS,
            {
                "action": "test.timed",
                "since": "2026-03-02T00:00:00Z",
                "until": "2026-03-03T00:00:00Z",
            },
        )
    )
    assert got == [str(made[1].uuid)]
    assert _ids(client.get(EVENTS, {"action": "test.timed", "since": "2026-03-02T00:00:00Z"})) == [
        str(made[2].uuid),
        str(made[1].uuid),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2026-13-45T00:00:00Z"},
        {"action": "a" * 101},
        {"actor": "x" * 65},
        {"action": "auth.\x00"},
        {"cursor": "not-a-cursor"},
    ],
)
def test_audit_events_bad_input_is_400(client_for, member, params):
    response = client_for(member).get(EVENTS, params)
    assert response.status_code == 400, response.content
    assert response.json()["type"] == "validation_error"
    assert response.json()["errors"][0]["attr"] in set(params)


@pytest.mark.django_db
def test_audit_events_unicode_filter_is_fine(client_for, member):
    response = client_for(member).get(EVENTS, {"action": "ünï.cødé", "target": "😀"})
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.django_db
def test_audit_events_cursor_pagination_walks_every_event_once(
    client_for, member, django_assert_max_num_queries
):
    for i in range(7):
        record(action="test.page", actor=member, metadata={"i": i})
    client = client_for(member)
    seen = []
    url = f"{EVENTS}?action=test.page&page_size=3"
    while url:
        # 10 before personal values were encrypted, +1 for the page's subject keys, +1 as a
        # member's page is read as two index scans (actor, target) rather than one OR.
        with django_assert_max_num_queries(12):
            body = client.get(url).json()
        seen += [item["metadata"]["i"] for item in body["results"]]
        url = body["next"]
    assert seen == [6, 5, 4, 3, 2, 1, 0]


@pytest.mark.django_db
def test_audit_events_list_query_count_does_not_grow(
    client_for, admin_user, django_assert_max_num_queries
):
    for i in range(60):
        record(action="test.many", actor=admin_user, target=admin_user, metadata={"i": i})
    client = client_for(admin_user)
    # +1 over the plain list: one query for the keys of every person on the page.
    with django_assert_max_num_queries(11):
        response = client.get(EVENTS, {"page_size": 200})
    assert len(response.json()["results"]) >= 60


@pytest.mark.django_db
def test_audit_events_trailing_slash(client_for, member):
    assert client_for(member).get(EVENTS + "/").status_code == 200


# --- verify ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_verify_anonymous_401_member_403_manager_403(
    anon_client, client_for, member, manager
):
    assert anon_client.get(VERIFY).status_code == 401
    assert client_for(member).get(VERIFY).status_code == 403
    assert client_for(manager).get(VERIFY).status_code == 403


@pytest.mark.django_db
def test_audit_verify_admin_ok_then_broken(client_for, admin_user):
    for i in range(4):
        record(action="test.verify", metadata={"i": i})
    events_seal()
    client = client_for(admin_user)
    body = client.get(VERIFY).json()
    assert body["ok"] is True and body["checked"] >= 4 and "first_broken" not in body
    target = AuditEvent.objects.filter(action="test.verify").order_by("seq")[1]
    with bypassing_triggers() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET changes = %s WHERE id = %s", ['{"x": 1}', target.pk]
        )
    body = client.get(VERIFY + "/").json()
    assert body["ok"] is False
    assert body["first_broken"] == {
        "seq": target.seq,
        "id": str(target.uuid),
        "reason": "seal_mismatch",
    }


@pytest.mark.django_db
def test_audit_event_ids_are_uuids_not_sequential(client_for, member):
    record(action="test.id", actor=member)
    (item,) = client_for(member).get(EVENTS, {"action": "test.id"}).json()["results"]
    assert uuid.UUID(item["id"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params", [{"from_seq": "abc"}, {"from_seq": "0"}, {"limit": "-1"}, {"limit": "1e99"}]
)
def test_audit_verify_bad_window_is_400(client_for, admin_user, params):
    response = client_for(admin_user).get(VERIFY, params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] in params


@pytest.mark.django_db
def test_audit_verify_window(client_for, admin_user):
    for _ in range(5):
        record(action="test.window")
    events_seal()
    body = client_for(admin_user).get(VERIFY, {"from_seq": 2, "limit": 2}).json()
    assert body["ok"] is True and body["checked"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "since",
    ["2026-03-02T01:07:00+18:07", "0891-06-24T03:11:14+18:07", "0001-01-01T00:00:00+01:00"],
)
def test_audit_events_since_with_extreme_offsets_is_not_a_server_error(
    client_for, admin_user, since
):
    response = client_for(admin_user).get(EVENTS, {"since": since})
    if since.startswith("0001"):  # before year 1 in UTC
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "since"
    else:
        assert response.status_code == 200


@pytest.mark.django_db
def test_audit_events_since_offset_is_applied(client_for, admin_user):
    with time_machine.travel(datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC), tick=False):
        event = record(action="test.offset")
    client = client_for(admin_user)
    # 2026-03-01T11:00Z and 13:00Z, written with an offset of +18:00.
    assert _ids(client.get(EVENTS, {"action": "test.offset", "since": "2026-03-02T05:00+18:00"}))
    assert (
        _ids(client.get(EVENTS, {"action": "test.offset", "since": "2026-03-02T07:00+18:00"})) == []
    )
    assert event.uuid


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["from_seq", "limit"])
def test_audit_verify_empty_parameter_is_400(client_for, admin_user, param):
    response = client_for(admin_user).get("/api/v1/audit/verify", {param: ""})
    assert response.status_code == 400
    assert (response.json()["errors"][0]["code"], response.json()["errors"][0]["attr"]) == (
        "blank",
        param,
    )
