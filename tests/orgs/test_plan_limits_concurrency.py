"""The slot quota raised by an organization's plan still holds under concurrent creates: the
plan is read under the owner's row lock, like the owner's own limit."""

import threading

import pytest
from django.conf import settings
from django.db import connection

from config.errors import Conflict
from orgs.models import Organization, Plan
from orgs.services import organizations
from slots import services
from slots.models import Slot, SlotType
from tests.factories import UserFactory
from tests.orgs.conftest import verified

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks)"),
    pytest.mark.django_db(transaction=True),
]


def _race(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_plan_slot_quota_holds_under_16_parallel_creates():
    # Rows of its own: a transactional test starts from a flushed database.
    SlotType.objects.create(key="pbox", name="Box", default_limit=1)
    plan = Plan.objects.create(key="race", name="Race", seat_limit=5, slot_limits={"pbox": 4})
    owner = verified(UserFactory(email="race-owner@example.com"))
    org = organizations.org_create(name="Race", slug="race", actor=owner)
    Organization.objects.filter(pk=org.pk).update(plan=plan)

    results = _race(
        16,
        lambda i: services.slot_create(
            owner=owner, type="pbox", name=f"b{i}", config={}, actor=owner
        ),
    )

    assert len([r for r in results if isinstance(r, Slot)]) == 4, results
    refused = [r for r in results if isinstance(r, Conflict)]
    assert [r.code for r in refused] == ["slot_quota_exceeded"] * 12
    assert all("the limit is 4" in str(r.detail) for r in refused)
    assert Slot.objects.filter(owner=owner).count() == 4
