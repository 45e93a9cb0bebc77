import uuid

from slots.models import Slot
from slots.selectors import owned_slot_ids, slot_counts_by_status, slots_export_for_user


def test_slots_export_for_user_lists_every_status_without_secrets(member, other_member, make_slot):
    live = make_slot(member, name="a")
    released = make_slot(member, name="a", status=Slot.Status.RELEASED)
    make_slot(other_member, name="theirs")

    exported = slots_export_for_user(user=member)

    assert [row["id"] for row in exported] == [str(live.id), str(released.id)]
    row = exported[0]
    assert set(row) == {
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
    assert row["owner"] == str(member.id)
    assert row["type"] == "workspace"
    assert row["credentials"] == {
        "configured": False,
        "kind": None,
        "hint": None,
        "updated_at": None,
    }
    assert row["created_at"].endswith("Z")
    assert exported[1]["status"] == "released" and exported[1]["released_at"].endswith("Z")


def test_owned_slot_ids_refuses_foreign_and_malformed_ids(member, other_member, make_slot):
    mine = make_slot(member, name="mine")
    released = make_slot(member, name="gone", status=Slot.Status.RELEASED)
    theirs = make_slot(other_member, name="theirs")

    owned = owned_slot_ids(
        user=member,
        slot_ids=[str(mine.id), released.id, theirs.id, "not-a-uuid", None, uuid.uuid4()],
    )

    assert owned == {mine.id, released.id}
    assert owned_slot_ids(user=member, slot_ids=[]) == set()


def test_slot_counts_by_status_counts_every_status(member, make_slot):
    make_slot(member, name="a")
    make_slot(member, name="b")
    make_slot(member, name="c", status=Slot.Status.SUSPENDED)
    make_slot(member, name="a", status=Slot.Status.RELEASED)

    assert slot_counts_by_status() == {
        "provisioning": 0,
        "active": 2,
        "suspended": 1,
        "released": 1,
    }
