from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services.erasure import user_erase, user_request_erasure
from audit.models import AuditEvent
from config.errors import Conflict, Forbidden, Invalid
from slots import services
from slots.models import Slot, SlotCredential

WORKSPACE = {"cpu": 2, "memory_gb": 8, "region": "us-east"}


def _events(action: str, slot=None):
    qs = AuditEvent.objects.filter(action=action)
    if slot is not None:
        qs = qs.filter(target_id=str(slot.pk))
    return list(qs.order_by("id"))


def _create(owner, name="dev", type="workspace", config=None, actor=None):
    return services.slot_create(
        owner=owner,
        type=type,
        name=name,
        config=WORKSPACE if config is None else config,
        actor=actor if actor is not None else owner,
    )


# --- create -----------------------------------------------------------------------------


def test_slot_create_starts_active_and_records_audit(member):
    slot = _create(member)

    slot.refresh_from_db()
    assert slot.status == "active" and slot.owner_id == member.pk
    assert slot.config == WORKSPACE
    [event] = _events("slot.created", slot)
    assert event.actor_id == str(member.pk)
    assert event.target_type == "slot"
    assert event.changes["status"] == [None, "active"]
    assert event.changes["name"] == [None, "dev"]


def test_slot_create_provisioning_when_type_requires_it(member):
    slot = _create(member, type="agent", config={"runtime": "node20"})
    assert slot.status == "provisioning"
    assert slot.config == {"runtime": "node20", "max_concurrency": 1}


def test_slot_create_fills_schema_defaults(member):
    slot = _create(member, config={})
    assert slot.config == {"cpu": 2, "memory_gb": 4, "region": "eu-west"}


@pytest.mark.parametrize(
    ("config", "attr"),
    [
        ({"cpu": 9}, "config.cpu"),
        ({"cpu": "two"}, "config.cpu"),
        ({"memory_gb": 0}, "config.memory_gb"),
        ({"region": "mars"}, "config.region"),
        ({"gpu": 1}, "config.gpu"),
    ],
)
def test_slot_create_config_errors_name_the_path(member, config, attr):
    with pytest.raises(ValidationError) as info:
        _create(member, config=config)
    assert attr in info.value.message_dict
    assert info.value.error_dict[attr][0].code == "invalid_config"
    assert not Slot.objects.exists()


def test_slot_create_missing_required_config_names_the_property(member):
    with pytest.raises(ValidationError) as info:
        _create(member, type="agent", config={"labels": {"Bad Key": "x"}})
    assert set(info.value.message_dict) == {"config.runtime", "config.labels"}


def test_slot_create_config_must_be_an_object_of_bounded_size(member):
    with pytest.raises(Invalid) as info:
        _create(member, config=["cpu", 2])
    assert (info.value.code, info.value.attr) == ("invalid_config", "config")
    with pytest.raises(Invalid) as info:
        _create(member, type="agent", config={"runtime": "node20", "labels": {"a": "x" * 20000}})
    assert info.value.code == "config_too_large"
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(Invalid) as info:
        _create(member, config=deep)
    assert info.value.code == "config_too_large"
    assert not Slot.objects.exists()


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "blank"),
        ("   ", "blank"),
        ("x" * 1000, "max_length"),
        ("bad\x07name", "invalid_name"),
        ("line\nbreak", "invalid_name"),
        ("evil\u202eexe.txt", "invalid_name"),
        (42, "invalid"),
    ],
)
def test_slot_create_refuses_bad_names(member, name, code):
    with pytest.raises(Invalid) as info:
        _create(member, name=name)
    assert (info.value.code, info.value.attr) == (code, "name")


def test_slot_create_accepts_unicode_names_and_strips_spaces(member):
    slot = _create(member, name="  Ærø 工作区 🚀 ")
    assert slot.name == "Ærø 工作区 🚀"


def test_slot_create_unknown_or_disabled_type(member, workspace_type):
    with pytest.raises(Invalid) as info:
        _create(member, type="nope")
    assert (info.value.code, info.value.attr) == ("unknown_type", "type")
    workspace_type.is_enabled = False
    workspace_type.save()
    with pytest.raises(Invalid) as info:
        _create(member)
    assert info.value.code == "type_disabled"


def test_slot_create_name_taken_among_live_slots_case_insensitively(member, other_member):
    first = _create(member, name="Dev")
    with pytest.raises(Conflict) as info:
        _create(member, name="dev")
    assert (info.value.code, info.value.attr) == ("name_taken", "name")
    # Another owner may use it; releasing frees it.
    _create(other_member, name="dev")
    services.slot_release(slot=first, actor=member)
    assert _create(member, name="dev").status == "active"


def test_slot_create_quota_uses_type_default_limit(member, workspace_type):
    for i in range(workspace_type.default_limit):
        _create(member, name=f"w{i}")
    with pytest.raises(Conflict) as info:
        _create(member, name="one-more")
    assert info.value.code == "slot_quota_exceeded"
    # The type's default limits slots of that type only.
    _create(member, name="agent", type="agent", config={"runtime": "node20"})


def test_slot_create_quota_user_limit_overrides_across_types(member):
    member.slot_limit = 1
    member.save(update_fields=["slot_limit"])
    _create(member, name="a")
    with pytest.raises(Conflict) as info:
        _create(member, name="b", type="agent", config={"runtime": "node20"})
    assert info.value.code == "slot_quota_exceeded"


def test_slot_create_released_slots_do_not_count(member):
    member.slot_limit = 1
    member.save(update_fields=["slot_limit"])
    slot = _create(member, name="a")
    services.slot_release(slot=slot, actor=member)
    assert _create(member, name="b").status == "active"


def test_slot_create_limit_zero_refuses_everything(member):
    member.slot_limit = 0
    member.save(update_fields=["slot_limit"])
    with pytest.raises(Conflict):
        _create(member)


def test_slot_create_for_another_user_needs_admin(member, other_member, admin_user):
    with pytest.raises(Forbidden):
        _create(other_member, actor=member)
    slot = _create(other_member, actor=admin_user)
    assert slot.owner_id == other_member.pk
    [event] = _events("slot.created", slot)
    assert event.actor_id == str(admin_user.pk)
    assert event.metadata["owner"] == str(other_member.pk)


def test_slot_create_refused_for_inactive_owner(member, admin_user):
    member.status = "suspended"
    member.is_active = False
    member.save(update_fields=["status", "is_active"])
    with pytest.raises(Conflict) as info:
        _create(member, actor=admin_user)
    assert info.value.code == "owner_inactive"


# --- update -----------------------------------------------------------------------------


def test_slot_update_renames_and_changes_config_with_audit(member):
    slot = _create(member)
    services.slot_update(
        slot=slot, name="prod", config={"cpu": 4, "memory_gb": 8, "region": "us-east"}, actor=member
    )
    slot.refresh_from_db()
    assert slot.name == "prod" and slot.config["cpu"] == 4
    [event] = _events("slot.updated", slot)
    assert event.changes["name"] == ["dev", "prod"]
    assert event.changes["config"] == [WORKSPACE, {**WORKSPACE, "cpu": 4}]


def test_slot_update_without_changes_records_nothing(member):
    slot = _create(member)
    services.slot_update(slot=slot, name="dev", config=dict(WORKSPACE), actor=member)
    assert _events("slot.updated") == []


def test_slot_update_invalid_config_writes_nothing(member):
    slot = _create(member)
    with pytest.raises(ValidationError):
        services.slot_update(slot=slot, name="renamed", config={"cpu": 100}, actor=member)
    slot.refresh_from_db()
    assert slot.name == "dev" and slot.config == WORKSPACE


def test_slot_update_name_taken_and_case_change_allowed(member):
    _create(member, name="a")
    slot = _create(member, name="b")
    with pytest.raises(Conflict) as info:
        services.slot_update(slot=slot, name="A", actor=member)
    assert info.value.code == "name_taken"
    services.slot_update(slot=slot, name="B", actor=member)
    slot.refresh_from_db()
    assert slot.name == "B"


def test_slot_update_released_slot_conflicts(member):
    slot = _create(member)
    services.slot_release(slot=slot, actor=member)
    with pytest.raises(Conflict) as info:
        services.slot_update(slot=slot, name="again", actor=member)
    assert info.value.code == "slot_released"


def test_slot_update_by_stranger_forbidden(member, other_member):
    slot = _create(member)
    with pytest.raises(Forbidden):
        services.slot_update(slot=slot, name="mine", actor=other_member)


# --- lifecycle --------------------------------------------------------------------------


def test_slot_transition_suspend_resume_release_with_audit(member):
    slot = _create(member)
    services.slot_suspend(slot=slot, actor=member)
    assert slot.status == "suspended"
    services.slot_resume(slot=slot, actor=member)
    assert slot.status == "active"
    services.slot_release(slot=slot, actor=member)
    slot.refresh_from_db()
    assert slot.status == "released" and slot.released_at is not None
    changes = [e.changes["status"] for e in _events("slot.status.changed", slot)]
    assert changes == [["active", "suspended"], ["suspended", "active"]]
    [released] = _events("slot.released", slot)
    assert released.changes == {"status": ["active", "released"]}
    assert released.actor_id == str(member.pk)


@pytest.mark.parametrize(
    ("start", "action"),
    [
        ("active", "activate"),
        ("active", "resume"),
        ("suspended", "suspend"),
        ("suspended", "activate"),
        ("provisioning", "suspend"),
        ("provisioning", "resume"),
        ("released", "activate"),
        ("released", "suspend"),
        ("released", "resume"),
        ("released", "release"),
    ],
)
def test_slot_transition_illegal_moves_conflict(admin_user, member, make_slot, start, action):
    slot = make_slot(member, status=start)
    with pytest.raises(Conflict) as info:
        services.slot_transition(slot=slot, action=action, actor=admin_user)
    assert info.value.code == "invalid_transition"
    slot.refresh_from_db()
    assert slot.status == start


@pytest.mark.parametrize("start", ["provisioning", "active", "suspended"])
def test_slot_transition_release_from_every_live_status(member, make_slot, start):
    slot = make_slot(member, status=start)
    services.slot_release(slot=slot, actor=member)
    assert slot.status == "released"


def test_slot_transition_activate_is_for_admins_and_the_system(member, admin_user):
    slot = _create(member, type="agent", config={"runtime": "node20"})
    with pytest.raises(Forbidden):
        services.slot_activate(slot=slot, actor=member)
    services.slot_activate(slot=slot, actor=None)
    assert slot.status == "active"
    services.slot_suspend(slot=slot, actor=admin_user)
    [event] = _events("slot.status.changed", slot)[-1:]
    assert event.actor_id == str(admin_user.pk)
    assert _events("slot.status.changed", slot)[0].actor_type == "system"


def test_slot_transition_by_stranger_forbidden(member, other_member):
    slot = _create(member)
    with pytest.raises(Forbidden):
        services.slot_suspend(slot=slot, actor=other_member)


def test_slot_release_erases_credentials(member):
    slot = _create(member)
    services.slot_credentials_set(
        slot=slot, credentials={"kind": "api_key", "api_key": "k" * 20}, actor=member
    )
    services.slot_release(slot=slot, actor=member)
    assert not SlotCredential.objects.filter(slot=slot).exists()
    assert services.slot_credentials_get(slot=slot) == {}


# --- credentials ------------------------------------------------------------------------


def test_slot_credentials_set_encrypts_and_get_decrypts(member):
    slot = _create(member)
    secret = "sk-live-0123456789abcdef"
    services.slot_credentials_set(
        slot=slot, credentials={"kind": "api_key", "api_key": secret}, actor=member
    )
    row = SlotCredential.objects.get(slot=slot)
    assert secret not in row.ciphertext
    assert (row.kind, row.hint) == ("api_key", "cdef")
    assert services.slot_credentials_get(slot=slot) == {"kind": "api_key", "api_key": secret}
    [event] = _events("slot.credentials.changed", slot)
    assert event.changes == {"kind": [None, "api_key"]}
    assert secret not in str(event.changes) + str(event.metadata)


def test_slot_credentials_oauth_and_basic(member):
    slot = _create(member)
    oauth = {
        "kind": "oauth",
        "client_id": "client-1",
        "client_secret": "very-secret-client-value",
        "refresh_token": "r-token",
    }
    services.slot_credentials_set(slot=slot, credentials=oauth, actor=member)
    assert services.slot_credentials_get(slot=slot) == oauth
    services.slot_credentials_set(
        slot=slot,
        credentials={"kind": "basic", "username": "bob", "password": "hunter2hunter2"},
        actor=member,
    )
    row = SlotCredential.objects.get(slot=slot)
    assert (row.kind, row.hint) == ("basic", "ter2")
    assert _events("slot.credentials.changed", slot)[-1].changes == {"kind": ["oauth", "basic"]}


def test_slot_credentials_short_secret_gets_no_hint(member):
    slot = _create(member)
    services.slot_credentials_set(
        slot=slot, credentials={"kind": "api_key", "api_key": "short"}, actor=member
    )
    assert SlotCredential.objects.get(slot=slot).hint == ""


@pytest.mark.parametrize(
    ("credentials", "code", "attr"),
    [
        ({"kind": "password"}, "invalid_choice", "kind"),
        ({"api_key": "x"}, "invalid_choice", "kind"),
        ({"kind": "api_key"}, "required", "api_key"),
        ({"kind": "api_key", "api_key": ""}, "required", "api_key"),
        ({"kind": "basic", "username": "u"}, "required", "password"),
        ({"kind": "oauth", "client_id": "c"}, "required", "client_secret"),
        ({"kind": "api_key", "api_key": 12345}, "invalid", "api_key"),
        ({"kind": "api_key", "api_key": "k", "password": "p"}, "unknown_field", "password"),
        ({"kind": "api_key", "api_key": "k" * 9000}, "max_length", "api_key"),
    ],
)
def test_slot_credentials_set_refuses_bad_input(member, credentials, code, attr):
    slot = _create(member)
    with pytest.raises(Invalid) as info:
        services.slot_credentials_set(slot=slot, credentials=credentials, actor=member)
    assert (info.value.code, info.value.attr) == (code, attr)
    assert not SlotCredential.objects.exists()


def test_slot_credentials_kind_must_be_accepted_by_type(member):
    slot = _create(member, type="agent", config={"runtime": "node20"})
    with pytest.raises(Invalid) as info:
        services.slot_credentials_set(
            slot=slot, credentials={"kind": "basic", "username": "u", "password": "p"}, actor=member
        )
    assert (info.value.code, info.value.attr) == ("credential_kind_not_accepted", "kind")


def test_slot_credentials_clear(member):
    slot = _create(member)
    assert services.slot_credentials_clear(slot=slot, actor=member) is False
    services.slot_credentials_set(
        slot=slot, credentials={"kind": "api_key", "api_key": "abc"}, actor=member
    )
    assert services.slot_credentials_clear(slot=slot, actor=member) is True
    assert services.slot_credentials_get(slot=slot) == {}
    assert _events("slot.credentials.changed", slot)[-1].changes == {"kind": ["api_key", None]}


def test_slot_credentials_by_stranger_forbidden_and_released_conflicts(member, other_member):
    slot = _create(member)
    with pytest.raises(Forbidden):
        services.slot_credentials_set(
            slot=slot, credentials={"kind": "api_key", "api_key": "x"}, actor=other_member
        )
    services.slot_release(slot=slot, actor=member)
    with pytest.raises(Conflict) as info:
        services.slot_credentials_set(
            slot=slot, credentials={"kind": "api_key", "api_key": "x"}, actor=member
        )
    assert info.value.code == "slot_released"


def test_slot_credentials_ciphertext_is_bound_to_its_slot(member):
    from slots.crypto import CredentialDecryptionError

    first = _create(member, name="a")
    second = _create(member, name="b")
    services.slot_credentials_set(
        slot=first, credentials={"kind": "api_key", "api_key": "first-secret"}, actor=member
    )
    services.slot_credentials_set(
        slot=second, credentials={"kind": "api_key", "api_key": "second-secret"}, actor=member
    )
    stolen = SlotCredential.objects.get(slot=first).ciphertext
    SlotCredential.objects.filter(slot=second).update(ciphertext=stolen)
    with pytest.raises(CredentialDecryptionError):
        services.slot_credentials_get(slot=second)


# --- heartbeat and idle suspension ------------------------------------------------------


def test_slot_heartbeat_writes_at_most_once_per_interval(member, django_assert_num_queries):
    from django.core.cache import cache

    slot = _create(member)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert services.slot_heartbeat(slot=slot) is True
        with django_assert_num_queries(0):
            assert services.slot_heartbeat(slot=slot) is False
    slot.refresh_from_db()
    assert slot.last_active_at == start

    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        # Even past the cache gate (another process, a lost key) the database refuses.
        cache.delete(services.heartbeat_cache_key(slot.pk))
        assert services.slot_heartbeat(slot=slot) is False
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        cache.delete(services.heartbeat_cache_key(slot.pk))
        assert services.slot_heartbeat(slot=slot) is True
    slot.refresh_from_db()
    assert slot.last_active_at == start + timedelta(seconds=31)


def test_slot_heartbeat_on_released_slot_conflicts(member):
    slot = _create(member)
    services.slot_release(slot=slot, actor=member)
    with pytest.raises(Conflict) as info:
        services.slot_heartbeat(slot=slot)
    assert info.value.code == "slot_released"


def test_slots_suspend_idle_off_by_default(member, settings):
    settings.ROSTER = {**settings.ROSTER, "SLOT_IDLE_SUSPEND_SECONDS": 0}
    slot = _create(member)
    with time_machine.travel(timezone.now() + timedelta(days=30)):
        assert services.slots_suspend_idle() == 0
    slot.refresh_from_db()
    assert slot.status == "active"


def test_slots_suspend_idle_suspends_only_idle_active_slots(member, settings):
    settings.ROSTER = {**settings.ROSTER, "SLOT_IDLE_SUSPEND_SECONDS": 3600}
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        idle = _create(member, name="idle")
        busy = _create(member, name="busy")
        suspended = _create(member, name="already")
        services.slot_suspend(slot=suspended, actor=member)
    with time_machine.travel(start + timedelta(minutes=50), tick=False):
        services.slot_heartbeat(slot=busy)
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert services.slots_suspend_idle() == 1
        assert services.slots_suspend_idle() == 0
    for slot, expected in ((idle, "suspended"), (busy, "active"), (suspended, "suspended")):
        slot.refresh_from_db()
        assert slot.status == expected
    [event] = [e for e in _events("slot.status.changed", idle)]
    assert event.actor_type == "system"
    assert event.changes == {"status": ["active", "suspended"]}
    assert event.metadata["reason"] == "idle"


def test_slots_suspend_idle_counts_from_resume(member, settings):
    settings.ROSTER = {**settings.ROSTER, "SLOT_IDLE_SUSPEND_SECONDS": 3600}
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        slot = _create(member)
        services.slot_suspend(slot=slot, actor=member)
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        services.slot_resume(slot=slot, actor=member)
        assert services.slots_suspend_idle() == 0
    with time_machine.travel(start + timedelta(hours=6, minutes=1), tick=False):
        assert services.slots_suspend_idle() == 1


# --- account erasure --------------------------------------------------------------------


def test_account_erasure_releases_the_live_slots_and_drops_their_credentials(member, other_member):
    live = _create(member, name="live")
    services.slot_credentials_set(
        slot=live,
        credentials={"kind": "api_key", "api_key": "sk-erase-me-0123456789"},
        actor=member,
    )
    paused = services.slot_suspend(slot=_create(member, name="paused"), actor=member)
    kept = _create(other_member, name="kept")

    user_request_erasure(user=member, actor=member)
    member.refresh_from_db()
    assert user_erase(user_id=member.pk, now=member.erasure_due_at + timedelta(seconds=1))

    statuses = dict(Slot.objects.filter(owner=member).values_list("name", "status"))
    assert statuses == {"live": "released", "paused": "released"}
    assert not SlotCredential.objects.filter(slot__owner=member).exists()
    assert Slot.objects.get(pk=kept.pk).status == "active"
    for slot in (live, paused):
        [released] = _events("slot.released", slot)
        assert released.actor_type == "system"
