"""The quota and name rules under real concurrency: real threads, real PostgreSQL connections."""

import importlib

import pytest
from django.conf import settings

from config.errors import Conflict
from slots import services
from slots.models import Slot, SlotType
from tests.threads import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _seeded_slot_types():
    """Transactional tests flush the database between tests, seeded rows included."""
    seed = importlib.import_module("slots.migrations.0002_seed_slot_types").SEED
    for row in seed:
        SlotType.objects.get_or_create(key=row["key"], defaults=row)


def _codes(results) -> list[str]:
    return sorted(r.code for r in results if isinstance(r, Conflict))


def test_slot_create_quota_holds_under_20_parallel_creates(user_factory):
    owner = user_factory(slot_limit=3)

    results = race(
        20,
        lambda i: services.slot_create(
            owner=owner, type="workspace", name=f"s{i}", config={}, actor=owner
        ),
    )

    created = [r for r in results if isinstance(r, Slot)]
    assert len(created) == 3, results
    assert _codes(results) == ["slot_quota_exceeded"] * 17
    assert Slot.objects.filter(owner=owner).count() == 3


def test_slot_create_quota_holds_through_the_api(user_factory):
    from rest_framework.test import APIClient

    owner = user_factory(slot_limit=3)

    def create(i: int) -> int:
        client = APIClient()
        client.force_login(owner)
        response = client.post(
            "/api/v1/slots", {"type": "workspace", "name": f"api-{i}"}, format="json"
        )
        return response.status_code

    # One request first, so process-wide lazy set-up (metrics registration) is not itself raced.
    warm = APIClient()
    warm.force_login(owner)
    assert warm.get("/api/v1/slots").status_code == 200

    statuses = race(20, create)

    assert sorted(statuses) == [201] * 3 + [409] * 17, statuses
    assert Slot.objects.filter(owner=owner).count() == 3


def test_slot_create_same_name_in_parallel_yields_one(user_factory):
    owner = user_factory(slot_limit=50)

    results = race(
        20,
        lambda i: services.slot_create(
            owner=owner, type="workspace", name="Same" if i % 2 else "same", config={}, actor=owner
        ),
    )

    assert len([r for r in results if isinstance(r, Slot)]) == 1, results
    assert _codes(results) == ["name_taken"] * 19


def test_slot_rename_to_the_same_name_in_parallel_yields_one(user_factory):
    owner = user_factory(slot_limit=50)
    slots = [
        services.slot_create(owner=owner, type="workspace", name=f"n{i}", config={}, actor=owner)
        for i in range(10)
    ]

    results = race(10, lambda i: services.slot_update(slot=slots[i], name="target", actor=owner))

    assert len([r for r in results if isinstance(r, Slot)]) == 1, results
    assert _codes(results) == ["name_taken"] * 9
    assert Slot.objects.filter(owner=owner, name="target").count() == 1


def test_slots_suspend_idle_two_workers_suspend_each_slot_once(user_factory, settings):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from audit.models import AuditEvent

    settings.ROSTER = {**settings.ROSTER, "SLOT_IDLE_SUSPEND_SECONDS": 60}
    owner = user_factory(slot_limit=50)
    for i in range(20):
        services.slot_create(owner=owner, type="workspace", name=f"i{i}", config={}, actor=owner)

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        counts = race(2, lambda i: services.slots_suspend_idle())

    assert sum(counts) == 20, counts
    assert Slot.objects.filter(owner=owner, status="suspended").count() == 20
    assert AuditEvent.objects.filter(action="slot.status.changed").count() == 20
