"""The slot quota raised by an organization's plan still holds under concurrent creates: the
plan is read under the owner's row lock, like the owner's own limit."""

import pytest
from django.conf import settings

from config.errors import Conflict
from orgs.models import Organization, Plan
from orgs.services import organizations
from slots import services
from slots.models import Slot, SlotType
from tests.factories import UserFactory
from tests.orgs.conftest import verified
from tests.threads import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks)"),
    pytest.mark.django_db(transaction=True),
]


def test_plan_slot_quota_holds_under_16_parallel_creates():
    # Rows of its own: a transactional test starts from a flushed database.
    SlotType.objects.create(key="pbox", name="Box", default_limit=1)
    plan = Plan.objects.create(key="race", name="Race", seat_limit=5, slot_limits={"pbox": 4})
    owner = verified(UserFactory(email="race-owner@example.com"))
    org = organizations.org_create(name="Race", slug="race", actor=owner)
    Organization.objects.filter(pk=org.pk).update(plan=plan)

    results = race(
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
