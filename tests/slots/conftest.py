import pytest

from slots.models import Slot, SlotType


@pytest.fixture
def workspace_type(db) -> SlotType:
    """The seeded workspace type (data migration)."""
    return SlotType.objects.get(key="workspace")


@pytest.fixture
def agent_type(db) -> SlotType:
    return SlotType.objects.get(key="agent")


@pytest.fixture
def make_slot(db, workspace_type):
    """Insert a slot row directly (for read-side tests; writes are tested via the services)."""

    def make(owner, name="dev", status=Slot.Status.ACTIVE, slot_type=None, **extra) -> Slot:
        from django.utils import timezone

        if status == Slot.Status.RELEASED:
            extra.setdefault("released_at", timezone.now())
        return Slot.objects.create(
            owner=owner,
            type=slot_type or workspace_type,
            name=name,
            status=status,
            config=extra.pop("config", {"cpu": 2, "memory_gb": 4, "region": "eu-west"}),
            **extra,
        )

    return make
