from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

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


# Seconds into the last whole minute → quantity, oldest first (the order SQL reads them):
# added up as floats, 0.7 + 0.2 + 0.1 is 0.9999999999999999.
FRACTIONAL_MINUTE = [(10, "0.7"), (30, "0.2"), (50, "0.1")]
# Minutes ago → quantity: one per bucket, a 12-digit value and a micro-unit.
FRACTIONAL_EVENTS = [
    (3, "0.1"),
    (62, "0.2"),
    (125, "0.7"),
    (60 * 24 + 5, "0.1"),
    (60 * 24 * 3, "0.2"),
    (60 * 24 * 6, "0.7"),
    (60 * 24 * 10, "123456.789012"),
    (60 * 24 * 20, "0.000001"),
]


@pytest.fixture
def fractional_usage(member, ingest) -> list[tuple[datetime, Decimal]]:
    """``member``'s ``compute.seconds`` events (FRACTIONAL_MINUTE, FRACTIONAL_EVENTS) as
    (occurred_at, quantity), partly rolled up."""
    from usage.services import usage_rollup

    now = timezone.now()
    minute = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    events = [(minute + timedelta(seconds=s), Decimal(q)) for s, q in FRACTIONAL_MINUTE]
    events += [(now - timedelta(minutes=m), Decimal(q)) for m, q in FRACTIONAL_EVENTS]
    for at, quantity in events:
        with time_machine.travel(at, tick=False):  # older than the late-arrival window too
            ingest(member, {"meter": "compute.seconds", "quantity": float(quantity)})
    usage_rollup(batch_size=5, max_batches=1)  # some rolled, the rest read as the tail
    return events


def totals_of(user, period="30d", **kwargs) -> dict:
    from usage.selectors import usage_stats

    return usage_stats(user=user, period=period, **kwargs)["totals"]
