from __future__ import annotations

import pytest

from usage.models import Meter


@pytest.fixture
def meters(db) -> dict[str, Meter]:
    """The seeded meters (data migration), by key."""
    return {m.key: m for m in Meter.objects.all()}


@pytest.fixture
def peak_meter(db) -> Meter:
    return Meter.objects.create(key="memory.peak", name="Peak memory", unit="MB", aggregation="max")


@pytest.fixture
def make_slot(db):
    """A slot row owned by ``owner`` (slots are written by their own app; usage only reads)."""
    from slots.models import Slot, SlotType

    def make(owner, name="dev"):
        return Slot.objects.create(
            owner=owner,
            type=SlotType.objects.get(key="workspace"),
            name=name,
            status=Slot.Status.ACTIVE,
            config={"cpu": 2, "memory_gb": 4, "region": "eu-west"},
        )

    return make


@pytest.fixture
def ingest():
    """``ingest(user, event, ...)`` or ``ingest(user, events=[...])`` through the service."""
    from usage.services import usage_events_ingest

    def run(user, *events, body=None, **kwargs):
        if body is None:
            body = events[0] if len(events) == 1 else {"events": list(events)}
        return usage_events_ingest(caller=user, body=body, **kwargs)

    return run


def totals_of(user, period="30d", **kwargs) -> dict:
    from usage.selectors import usage_stats

    return usage_stats(user=user, period=period, **kwargs)["totals"]
