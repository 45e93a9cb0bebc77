import pytest
from django.test import Client

from audit.models import AuditEvent
from slots import services
from slots.models import Slot, SlotType


@pytest.fixture
def superuser(user_factory):
    return user_factory(email="root@example.com", is_superuser=True, is_staff=True, roles=["admin"])


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def _slot(owner, name="w", type="workspace"):
    config = {"runtime": "node20"} if type == "agent" else {}
    return services.slot_create(owner=owner, type=type, name=name, config=config, actor=owner)


def test_slot_changelist_shows_owner_type_status_last_active(admin_client, member):
    slot = _slot(member, name="visible-slot")
    services.slot_heartbeat(slot=slot)
    response = admin_client.get("/admin/slots/slot/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("visible-slot", member.email, "workspace", "active", "not configured"):
        assert text in html
    assert "Last active" in html


def test_slot_changelist_filters_and_search(admin_client, member, other_member):
    _slot(member, name="alpha")
    _slot(other_member, name="beta")
    html = admin_client.get("/admin/slots/slot/", {"q": "other@example.com"}).content.decode()
    assert "beta" in html and "alpha" not in html
    assert admin_client.get("/admin/slots/slot/", {"status__exact": "released"}).status_code == 200


def test_slot_admin_actions_call_the_services(admin_client, superuser, member):
    first, second = _slot(member, name="a"), _slot(member, name="b")
    url = "/admin/slots/slot/"

    response = admin_client.post(
        url, {"action": "suspend_slots", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    assert "2 slots suspended" in response.content.decode()
    assert set(Slot.objects.values_list("status", flat=True)) == {"suspended"}
    events = AuditEvent.objects.filter(action="slot.status.changed", actor_id=str(superuser.pk))
    assert events.count() == 2

    admin_client.post(url, {"action": "resume_slots", "_selected_action": [first.pk]})
    admin_client.post(url, {"action": "release_slots", "_selected_action": [second.pk]})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("active", "released")
    assert AuditEvent.objects.filter(action="slot.released", target_id=str(second.pk)).exists()

    # Illegal moves are refused per slot, with a message, and change nothing.
    response = admin_client.post(
        url, {"action": "resume_slots", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    assert "2 slots not resumed" in response.content.decode()
    second.refresh_from_db()
    assert second.status == "released"


def test_slot_admin_activate_action(admin_client, member):
    slot = _slot(member, name="agent", type="agent")
    slot.refresh_from_db()
    assert slot.status == "provisioning"
    admin_client.post(
        "/admin/slots/slot/", {"action": "activate_slots", "_selected_action": [slot.pk]}
    )
    slot.refresh_from_db()
    assert slot.status == "active"


def test_slot_admin_has_no_add_or_delete(admin_client, member):
    slot = _slot(member)
    assert admin_client.get("/admin/slots/slot/add/").status_code == 403
    assert admin_client.get(f"/admin/slots/slot/{slot.pk}/delete/").status_code == 403
    change = admin_client.get(f"/admin/slots/slot/{slot.pk}/change/")
    assert change.status_code == 200
    assert 'name="name"' not in change.content.decode()  # read-only: changes go via services


def test_slot_admin_manager_can_view_but_not_act(client, manager, member):
    slot = _slot(member)
    client.force_login(manager)
    assert client.get("/admin/slots/slot/").status_code == 200
    client.post("/admin/slots/slot/", {"action": "suspend_slots", "_selected_action": [slot.pk]})
    slot.refresh_from_db()
    assert slot.status == "active"


def test_slot_type_admin_edit_and_validation(admin_client, workspace_type):
    url = f"/admin/slots/slottype/{workspace_type.pk}/change/"
    assert admin_client.get(url).status_code == 200
    form = {
        "key": "workspace",
        "name": "Workspace",
        "description": "",
        "config_schema": '{"type": "object", "properties": {"cpu": {"type": "integer"}}}',
        "default_limit": "7",
        "credential_kinds": ["api_key", "oauth"],
        "requires_provisioning": "",
        "is_enabled": "on",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    workspace_type.refresh_from_db()
    assert workspace_type.default_limit == 7
    assert workspace_type.credential_kinds == ["api_key", "oauth"]

    bad = {**form, "config_schema": '{"type": "object", "properties": {"cpu": {"type": 5}}}'}
    response = admin_client.post(url, bad)
    assert response.status_code == 200
    assert "Not a valid JSON Schema" in response.content.decode()
    array = {**form, "config_schema": '{"type": "array"}'}
    assert "always a JSON object" in admin_client.post(url, array).content.decode()
    workspace_type.refresh_from_db()
    assert workspace_type.config_schema["properties"]["cpu"] == {"type": "integer"}


def test_slot_type_admin_add(admin_client):
    response = admin_client.post(
        "/admin/slots/slottype/add/",
        {
            "key": "seat",
            "name": "Seat",
            "description": "A licensed seat.",
            "config_schema": "{}",
            "default_limit": "1",
            "is_enabled": "on",
        },
    )
    assert response.status_code == 302
    assert SlotType.objects.get(key="seat").credential_kinds == []
    bad_key = admin_client.post(
        "/admin/slots/slottype/add/",
        {"key": "Bad Key", "name": "x", "config_schema": "{}", "default_limit": "1"},
    )
    assert bad_key.status_code == 200 and not SlotType.objects.filter(name="x").exists()
