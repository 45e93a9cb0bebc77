import uuid

import pytest
from rest_framework.test import APIClient

from accounts.apikeys import api_key_create
from audit.models import AuditEvent
from slots import services
from slots.models import Slot, SlotCredential

BASE = "/api/v1/slots"
WORKSPACE = {"cpu": 2, "memory_gb": 8, "region": "us-east"}
W = {"type": "workspace", "name": "x"}


def _create(owner, name="dev", type="workspace", config=None):
    return services.slot_create(
        owner=owner,
        type=type,
        name=name,
        config=WORKSPACE if config is None else config,
        actor=owner,
    )


def _error(response, status: int, code: str, attr=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] in {"validation_error", "client_error"}
    codes = [(e["code"], e["attr"]) for e in body["errors"]]
    assert (code, attr) in codes, codes
    return body


def _key_client(user, scopes) -> APIClient:
    """A client that signs in with a real API key holding these scopes."""
    _key, raw = api_key_create(user=user, name="test", scopes=sorted(scopes), actor=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def slot(member):
    return _create(member)


# --- slot types -------------------------------------------------------------------------


def test_slot_types_list(client_for, member, anon_client):
    response = client_for(member).get("/api/v1/slot-types")
    assert response.status_code == 200
    types = {t["key"]: t for t in response.json()}
    assert set(types) == {"workspace", "agent"}
    workspace = types["workspace"]
    assert {"key", "name", "description", "config_schema", "default_limit"} <= set(workspace)
    assert workspace["config_schema"]["properties"]["cpu"]["maximum"] == 8
    assert client_for(member).get("/api/v1/slot-types/").status_code == 200
    assert client_for(member).get("/api/v1/slot-types/agent").json()["requires_provisioning"]
    assert client_for(member).get("/api/v1/slot-types/nope").status_code == 404
    _error(anon_client.get("/api/v1/slot-types"), 401, "not_authenticated")


def test_slot_types_hide_disabled_types(client_for, member, agent_type):
    agent_type.is_enabled = False
    agent_type.save()
    keys = [t["key"] for t in client_for(member).get("/api/v1/slot-types").json()]
    assert keys == ["workspace"]


# --- create -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BASE, BASE + "/"])
def test_slot_create_returns_slot_object(client_for, member, path):
    response = client_for(member).post(
        path, {"type": "workspace", "name": "dev", "config": {"cpu": 4}}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "owner",
        "type",
        "name",
        "status",
        "config",
        "credentials",
        "created_at",
        "updated_at",
        "last_active_at",
        "released_at",
    }
    assert uuid.UUID(body["id"])
    assert body["owner"] == str(member.pk)
    assert (body["type"], body["name"], body["status"]) == ("workspace", "dev", "active")
    assert body["config"] == {"cpu": 4, "memory_gb": 4, "region": "eu-west"}
    assert body["credentials"] == {
        "configured": False,
        "kind": None,
        "hint": None,
        "updated_at": None,
    }
    assert body["created_at"].endswith("Z") and body["last_active_at"] is None
    assert AuditEvent.objects.filter(action="slot.created", target_id=body["id"]).exists()


def test_slot_create_anonymous_401(anon_client):
    _error(anon_client.post(BASE, {"type": "workspace", "name": "x"}), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("payload", "status", "code", "attr"),
    [
        ({"name": "x"}, 400, "required", "type"),
        ({"type": "workspace"}, 400, "required", "name"),
        ({"type": "nope", "name": "x"}, 400, "unknown_type", "type"),
        ({"type": 7, "name": "x"}, 400, "invalid", "type"),
        ({"type": "workspace", "name": "x" * 1000}, 400, "max_length", "name"),
        ({"type": "workspace", "name": "a\x01b"}, 400, "invalid_name", "name"),
        ({**W, "config": {"cpu": 99}}, 400, "invalid_config", "config.cpu"),
        ({**W, "config": {"region": "moon"}}, 400, "invalid_config", "config.region"),
        ({**W, "config": "cpu=2"}, 400, "invalid_config", "config"),
        ({**W, "config": [1]}, 400, "invalid_config", "config"),
        ({**W, "config": None}, 400, "null", "config"),
        ({**W, "status": "active"}, 400, "unknown_field", "status"),
        ({"type": "workspace", "name": ["x"]}, 400, "invalid", "name"),
    ],
)  # fmt: skip
def test_slot_create_bad_input(client_for, member, payload, status, code, attr):
    _error(client_for(member).post(BASE, payload, format="json"), status, code, attr)
    assert not Slot.objects.exists()


def test_slot_create_agent_config_nested_path(client_for, member):
    response = client_for(member).post(
        BASE,
        {"type": "agent", "name": "a", "config": {"runtime": "node20", "max_concurrency": 99}},
        format="json",
    )
    _error(response, 400, "invalid_config", "config.max_concurrency")


def test_slot_create_huge_config_refused(client_for, member):
    config = {"runtime": "node20", "labels": {f"k{i}": "v" * 190 for i in range(20)}}
    response = client_for(member).post(
        BASE, {"type": "agent", "name": "a", "config": config}, format="json"
    )
    assert response.status_code == 201
    big = {"runtime": "node20", "labels": {"a": "v" * 20_000}}
    response = client_for(member).post(
        BASE, {"type": "agent", "name": "b", "config": big}, format="json"
    )
    _error(response, 400, "config_too_large", "config")


def test_slot_create_null_byte_refused(client_for, member):
    response = client_for(member).post(
        BASE, data='{"type": "workspace", "name": "a\\u0000b"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert not Slot.objects.exists()


def test_slot_create_name_taken_409(client_for, member, slot):
    response = client_for(member).post(BASE, {"type": "workspace", "name": "DEV"}, format="json")
    _error(response, 409, "name_taken", "name")


def test_slot_create_quota_409(client_for, member):
    member.slot_limit = 2
    member.save(update_fields=["slot_limit"])
    client = client_for(member)
    for name in ("a", "b"):
        assert client.post(BASE, {"type": "workspace", "name": name}).status_code == 201
    _error(client.post(BASE, {"type": "workspace", "name": "c"}), 409, "slot_quota_exceeded")
    assert Slot.objects.filter(owner=member).count() == 2


def test_slot_create_for_owner_admin_only(client_for, member, other_member, admin_user):
    payload = {"type": "workspace", "name": "x", "owner": str(other_member.pk)}
    _error(client_for(member).post(BASE, payload, format="json"), 403, "permission_denied")
    # Naming yourself is fine.
    own = {"type": "workspace", "name": "x", "owner": str(member.pk)}
    assert client_for(member).post(BASE, own, format="json").status_code == 201
    response = client_for(admin_user).post(BASE, payload, format="json")
    assert response.status_code == 201
    assert response.json()["owner"] == str(other_member.pk)
    missing = {"type": "workspace", "name": "x", "owner": str(uuid.uuid4())}
    _error(
        client_for(admin_user).post(BASE, missing, format="json"), 400, "does_not_exist", "owner"
    )
    bad = {"type": "workspace", "name": "x", "owner": "42"}
    _error(client_for(admin_user).post(BASE, bad, format="json"), 400, "invalid", "owner")


def test_slot_create_provisioning_type(client_for, member):
    response = client_for(member).post(
        BASE, {"type": "agent", "name": "a", "config": {"runtime": "node20"}}, format="json"
    )
    assert response.json()["status"] == "provisioning"


# --- list and retrieve ------------------------------------------------------------------


@pytest.mark.parametrize("path", [BASE, BASE + "/"])
def test_slot_list_own_live_slots(client_for, member, other_member, path):
    mine = _create(member, name="a")
    gone = _create(member, name="b")
    services.slot_release(slot=gone, actor=member)
    _create(other_member, name="theirs")

    body = client_for(member).get(path).json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert [s["id"] for s in body["results"]] == [str(mine.pk)]
    released = client_for(member).get(BASE, {"status": "released"}).json()["results"]
    assert [s["id"] for s in released] == [str(gone.pk)]


def test_slot_list_filters_and_bad_filter(client_for, member):
    _create(member, name="w")
    agent = _create(member, name="a", type="agent", config={"runtime": "node20"})
    client = client_for(member)
    assert [s["id"] for s in client.get(BASE, {"type": "agent"}).json()["results"]] == [
        str(agent.pk)
    ]
    assert [s["name"] for s in client.get(BASE, {"status": "provisioning"}).json()["results"]] == [
        "a"
    ]
    assert client.get(BASE, {"type": "nope"}).json()["count"] == 0
    _error(client.get(BASE, {"status": "gone"}), 400, "invalid_choice", "status")


def test_slot_list_pagination(client_for, member):
    member.slot_limit = 30
    member.save(update_fields=["slot_limit"])
    for i in range(12):
        _create(member, name=f"s{i:02d}")
    body = client_for(member).get(BASE, {"page_size": 5, "ordering": "name"}).json()
    assert body["count"] == 12 and len(body["results"]) == 5 and body["next"]
    assert [s["name"] for s in body["results"]] == ["s00", "s01", "s02", "s03", "s04"]


def test_slot_list_query_count_is_constant(client_for, member, django_assert_max_num_queries):
    member.slot_limit = 100
    member.save(update_fields=["slot_limit"])
    for i in range(30):
        slot = _create(member, name=f"s{i}")
        if i % 2:
            services.slot_credentials_set(
                slot=slot, credentials={"kind": "api_key", "api_key": f"key-{i}"}, actor=member
            )
    client = _key_client(member, {"slots:read"})
    client.get(BASE)
    # Authentication (key lookup, user) plus what the list adds: a count and a page.
    with django_assert_max_num_queries(5):
        response = client.get(BASE)
    assert response.json()["count"] == 30
    assert sum(s["credentials"]["configured"] for s in response.json()["results"]) == 15


def test_slot_list_admin_owner_param(client_for, member, other_member, admin_user):
    theirs = _create(other_member, name="theirs")
    _create(admin_user, name="admins")
    body = client_for(admin_user).get(BASE, {"owner": str(other_member.pk)}).json()
    assert [s["id"] for s in body["results"]] == [str(theirs.pk)]
    # Without ?owner an admin sees their own slots.
    assert [s["name"] for s in client_for(admin_user).get(BASE).json()["results"]] == ["admins"]
    _error(client_for(member).get(BASE, {"owner": str(other_member.pk)}), 403, "permission_denied")
    assert client_for(member).get(BASE, {"owner": str(member.pk)}).status_code == 200
    _error(client_for(admin_user).get(BASE, {"owner": "x"}), 400, "invalid", "owner")
    _error(client_for(admin_user).get(BASE, {"owner": ""}), 400, "invalid", "owner")


def test_slot_list_anonymous_401(anon_client):
    _error(anon_client.get(BASE), 401, "not_authenticated")


def test_slot_retrieve(client_for, member, other_member, admin_user, manager, anon_client, slot):
    url = f"{BASE}/{slot.pk}"
    assert client_for(member).get(url).json()["id"] == str(slot.pk)
    assert client_for(member).get(url + "/").status_code == 200
    assert client_for(admin_user).get(url).status_code == 200
    _error(client_for(other_member).get(url), 404, "not_found")
    _error(client_for(manager).get(url), 404, "not_found")
    _error(anon_client.get(url), 401, "not_authenticated")
    _error(client_for(member).get(f"{BASE}/{uuid.uuid4()}"), 404, "not_found")
    _error(client_for(member).get(f"{BASE}/not-a-uuid"), 404, "not_found")


def test_slot_retrieve_released_still_readable(client_for, member, slot):
    assert client_for(member).delete(f"{BASE}/{slot.pk}").status_code == 204
    body = client_for(member).get(f"{BASE}/{slot.pk}").json()
    assert body["status"] == "released" and body["released_at"].endswith("Z")


# --- update -----------------------------------------------------------------------------


def test_slot_patch(client_for, member, slot):
    url = f"{BASE}/{slot.pk}"
    response = client_for(member).patch(url, {"name": "prod", "config": {"cpu": 8}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "prod"
    assert body["config"] == {"cpu": 8, "memory_gb": 4, "region": "eu-west"}
    event = AuditEvent.objects.get(action="slot.updated", target_id=str(slot.pk))
    assert event.changes["name"] == ["dev", "prod"]


def test_slot_patch_bad_input_and_permissions(
    client_for, member, other_member, admin_user, anon_client, slot
):
    url = f"{BASE}/{slot.pk}"
    client = client_for(member)
    _error(
        client.patch(url, {"config": {"cpu": 0}}, format="json"),
        400,
        "invalid_config",
        "config.cpu",
    )
    _error(client.patch(url, {"name": ""}, format="json"), 400, "blank", "name")
    _error(
        client.patch(url, {"owner": str(other_member.pk)}, format="json"),
        400,
        "unknown_field",
        "owner",
    )
    _error(client.patch(url, {"status": "released"}, format="json"), 400, "unknown_field", "status")
    _error(client_for(other_member).patch(url, {"name": "x"}, format="json"), 404, "not_found")
    _error(anon_client.patch(url, {"name": "x"}, format="json"), 401, "not_authenticated")
    _error(client.put(url, {"name": "x"}, format="json"), 405, "method_not_allowed")
    assert client_for(admin_user).patch(url, {"name": "by-admin"}, format="json").status_code == 200
    slot.refresh_from_db()
    assert slot.name == "by-admin" and slot.config == WORKSPACE
    _create(member, name="other")
    _error(client.patch(url, {"name": "OTHER"}, format="json"), 409, "name_taken", "name")


def test_slot_patch_released_conflicts(client_for, member, slot):
    services.slot_release(slot=slot, actor=member)
    response = client_for(member).patch(f"{BASE}/{slot.pk}", {"name": "x"}, format="json")
    _error(response, 409, "slot_released")


# --- lifecycle --------------------------------------------------------------------------


def test_slot_suspend_resume_by_owner(client_for, member, slot):
    client = client_for(member)
    response = client.post(f"{BASE}/{slot.pk}/suspend")
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    _error(client.post(f"{BASE}/{slot.pk}/suspend/"), 409, "invalid_transition")
    response = client.post(f"{BASE}/{slot.pk}/resume/")
    assert response.json()["status"] == "active"
    event = AuditEvent.objects.filter(action="slot.status.changed").order_by("-id").first()
    assert event.changes == {"status": ["suspended", "active"]}


def test_slot_activate_admin_only(client_for, member, admin_user):
    slot = _create(member, type="agent", config={"runtime": "node20"})
    _error(client_for(member).post(f"{BASE}/{slot.pk}/activate"), 403, "permission_denied")
    response = client_for(admin_user).post(f"{BASE}/{slot.pk}/activate")
    assert response.status_code == 200 and response.json()["status"] == "active"
    _error(client_for(admin_user).post(f"{BASE}/{slot.pk}/activate"), 409, "invalid_transition")


def test_slot_actions_hidden_from_others(client_for, other_member, anon_client, slot):
    for verb in ("suspend", "resume", "activate", "heartbeat"):
        _error(client_for(other_member).post(f"{BASE}/{slot.pk}/{verb}"), 404, "not_found")
        _error(anon_client.post(f"{BASE}/{slot.pk}/{verb}"), 401, "not_authenticated")
    _error(client_for(other_member).delete(f"{BASE}/{slot.pk}"), 404, "not_found")
    _error(anon_client.delete(f"{BASE}/{slot.pk}"), 401, "not_authenticated")
    slot.refresh_from_db()
    assert slot.status == "active"


def test_slot_delete_releases(client_for, member, slot):
    member.slot_limit = 1
    member.save(update_fields=["slot_limit"])
    client = client_for(member)
    assert client.delete(f"{BASE}/{slot.pk}/").status_code == 204
    _error(client.delete(f"{BASE}/{slot.pk}"), 409, "invalid_transition")
    _error(client.post(f"{BASE}/{slot.pk}/resume"), 409, "invalid_transition")
    assert AuditEvent.objects.filter(action="slot.released", target_id=str(slot.pk)).count() == 1
    # It no longer counts, and its name is free again.
    assert client.post(BASE, {"type": "workspace", "name": "dev"}).status_code == 201


def test_slot_admin_releases_any_slot(client_for, admin_user, slot):
    assert client_for(admin_user).delete(f"{BASE}/{slot.pk}").status_code == 204
    slot.refresh_from_db()
    assert slot.status == "released"


# --- heartbeat --------------------------------------------------------------------------


def test_slot_heartbeat(client_for, member, slot, admin_user):
    client = client_for(member)
    response = client.post(f"{BASE}/{slot.pk}/heartbeat")
    assert response.status_code == 204 and response.content == b""
    slot.refresh_from_db()
    first = slot.last_active_at
    assert first is not None
    assert client.post(f"{BASE}/{slot.pk}/heartbeat/").status_code == 204
    slot.refresh_from_db()
    assert slot.last_active_at == first
    assert client.get(f"{BASE}/{slot.pk}").json()["last_active_at"].endswith("Z")
    # Heartbeats come from the owner's side only.
    _error(client_for(admin_user).post(f"{BASE}/{slot.pk}/heartbeat"), 404, "not_found")


def test_slot_heartbeat_released_409(client_for, member, slot):
    services.slot_release(slot=slot, actor=member)
    _error(client_for(member).post(f"{BASE}/{slot.pk}/heartbeat"), 409, "slot_released")


# --- credentials ------------------------------------------------------------------------


def test_slot_credentials_put_and_delete(client_for, member, slot):
    url = f"{BASE}/{slot.pk}/credentials"
    client = client_for(member)
    response = client.put(url, {"kind": "api_key", "api_key": "sk-0123456789abcdef"}, format="json")
    assert response.status_code == 204, response.content
    creds = client.get(f"{BASE}/{slot.pk}").json()["credentials"]
    assert creds["configured"] is True
    assert (creds["kind"], creds["hint"]) == ("api_key", "cdef")
    assert creds["updated_at"].endswith("Z")
    assert client.delete(url + "/").status_code == 204
    assert client.get(f"{BASE}/{slot.pk}").json()["credentials"]["configured"] is False
    assert client.delete(url).status_code == 204


@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({}, "required", "kind"),
        ({"kind": "ssh"}, "invalid_choice", "kind"),
        ({"kind": "api_key"}, "required", "api_key"),
        ({"kind": "api_key", "api_key": ""}, "blank", "api_key"),
        ({"kind": "basic", "username": "u"}, "required", "password"),
        ({"kind": "oauth", "client_secret": "s"}, "required", "client_id"),
        ({"kind": "api_key", "api_key": "k", "password": "p"}, "unknown_field", "password"),
        ({"kind": "api_key", "api_key": "k" * 9000}, "max_length", "api_key"),
        ({"kind": "api_key", "api_key": ["k"]}, "invalid", "api_key"),
    ],
)
def test_slot_credentials_bad_input(client_for, member, slot, payload, code, attr):
    response = client_for(member).put(f"{BASE}/{slot.pk}/credentials", payload, format="json")
    _error(response, 400, code, attr)
    assert not SlotCredential.objects.exists()


def test_slot_credentials_body_must_be_object(client_for, member, slot):
    response = client_for(member).put(f"{BASE}/{slot.pk}/credentials", ["x"], format="json")
    assert response.status_code == 400


def test_slot_credentials_kind_not_accepted(client_for, member):
    slot = _create(member, type="agent", config={"runtime": "node20"})
    response = client_for(member).put(
        f"{BASE}/{slot.pk}/credentials",
        {"kind": "basic", "username": "u", "password": "p"},
        format="json",
    )
    _error(response, 400, "credential_kind_not_accepted", "kind")


def test_slot_credentials_permissions(client_for, other_member, admin_user, anon_client, slot):
    url = f"{BASE}/{slot.pk}/credentials"
    payload = {"kind": "api_key", "api_key": "k"}
    _error(client_for(other_member).put(url, payload, format="json"), 404, "not_found")
    _error(client_for(other_member).delete(url), 404, "not_found")
    _error(anon_client.put(url, payload, format="json"), 401, "not_authenticated")
    assert client_for(admin_user).put(url, payload, format="json").status_code == 204
    _error(client_for(admin_user).get(url), 405, "method_not_allowed")


def test_slot_credentials_released_409(client_for, member, slot):
    services.slot_release(slot=slot, actor=member)
    response = client_for(member).put(
        f"{BASE}/{slot.pk}/credentials", {"kind": "api_key", "api_key": "k"}, format="json"
    )
    _error(response, 409, "slot_released")


# --- API-key scopes ---------------------------------------------------------------------


def test_slot_api_key_scopes(member, slot):
    reader = _key_client(member, {"slots:read"})
    assert reader.get(BASE).status_code == 200
    assert reader.get(f"{BASE}/{slot.pk}").status_code == 200
    assert reader.get("/api/v1/slot-types").status_code == 200
    for response in (
        reader.post(BASE, {"type": "workspace", "name": "x"}, format="json"),
        reader.post(f"{BASE}/{slot.pk}/heartbeat"),
        reader.post(f"{BASE}/{slot.pk}/suspend"),
        reader.patch(f"{BASE}/{slot.pk}", {"name": "y"}, format="json"),
        reader.put(f"{BASE}/{slot.pk}/credentials", {"kind": "api_key", "api_key": "k"}),
        reader.delete(f"{BASE}/{slot.pk}"),
    ):
        _error(response, 403, "insufficient_scope")
    unrelated = _key_client(member, {"usage:read"})
    _error(unrelated.get(BASE), 403, "insufficient_scope")

    writer = _key_client(member, {"slots:read", "slots:write"})
    assert writer.post(f"{BASE}/{slot.pk}/heartbeat").status_code == 204
    assert writer.post(BASE, {"type": "workspace", "name": "x"}, format="json").status_code == 201
    event = AuditEvent.objects.filter(action="slot.created").order_by("-id").first()
    assert event.actor_id == str(member.pk)
    assert event.metadata["via"] == "api_key"
    # X-API-Key works as well.
    _key, raw = api_key_create(user=member, name="hdr", scopes=["slots:read"], actor=member)
    assert APIClient().get(BASE, HTTP_X_API_KEY=raw).status_code == 200
    _error(APIClient().get(BASE, HTTP_X_API_KEY="rst_nonsense"), 401, "invalid_api_key")


def test_slot_list_items_equal_the_detail_objects(client_for, member):
    plain = _create(member, name="plain")
    with_creds = _create(member, name="creds")
    services.slot_heartbeat(slot=with_creds)
    services.slot_credentials_set(
        slot=with_creds,
        credentials={"kind": "oauth", "client_id": "c", "client_secret": "s3cret-value-abcd"},
        actor=member,
    )
    agent = _create(member, name="agent", type="agent", config={"runtime": "node20"})
    client = client_for(member)
    listed = {s["id"]: s for s in client.get(BASE).json()["results"]}
    for slot in (plain, with_creds, agent):
        assert listed[str(slot.pk)] == client.get(f"{BASE}/{slot.pk}").json()
    assert listed[str(with_creds.pk)]["credentials"]["hint"] == "abcd"


def test_slot_list_ordering_with_nul_is_400(client_for, member):
    _error(
        client_for(member).get(BASE, {"ordering": "name\x00"}),
        400,
        "null_characters_not_allowed",
        "ordering",
    )
    assert client_for(member).get(BASE, {"ordering": "-created_at"}).status_code == 200


@pytest.mark.parametrize("status", ["", "gone"])
def test_slot_list_bad_status_filter_is_400(client_for, member, status):
    _error(client_for(member).get(BASE, {"status": status}), 400, "invalid_choice", "status")
