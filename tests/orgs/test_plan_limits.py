"""A member's slot and usage limits are the most generous of their own and their active
organizations' plans (``orgs.selectors.plan_limits_for``, read by both quotas)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from config.errors import Conflict
from orgs.models import Membership, Organization, Plan
from orgs.selectors import PlanLimits, plan_limits_for
from orgs.services import members, organizations
from slots import services as slot_services
from slots.models import SlotType
from tests.factories import UserFactory
from tests.orgs.conftest import jwt_client, verified
from usage import selectors as usage_selectors
from usage.models import Meter, MeterLimitOverride
from usage.services import usage_events_ingest, usage_quota_check


@pytest.fixture
def box_type(db) -> SlotType:
    # A type of its own: the seeded ones may be gone after a transactional test's flush.
    return SlotType.objects.create(key="box", name="Box", default_limit=1)


@pytest.fixture
def calls(db) -> Meter:
    return Meter.objects.create(key="plan.calls", name="Calls", unit="calls", limit=10)


def _plan(key: str, *, slots=None, usage=None) -> Plan:
    return Plan.objects.create(
        key=key, name=key, seat_limit=10, slot_limits=slots or {}, usage_limits=usage or {}
    )


def _org_on(plan: Plan, owner, slug: str) -> Organization:
    org = organizations.org_create(name=slug.title(), slug=slug, actor=owner)
    Organization.objects.filter(pk=org.pk).update(plan=plan)
    org.refresh_from_db()
    return org


@pytest.fixture
def owner(db):
    return verified(UserFactory(email="plan-owner@example.com"))


@pytest.fixture
def person(db):
    return verified(UserFactory(email="plan-person@example.com"))


def _join(org: Organization, owner, person) -> None:
    members.member_add(organization=org, actor=owner, user=person, roles=["member"])


def _box(user, name: str):
    return slot_services.slot_create(owner=user, type="box", name=name, config={}, actor=user)


# --- the selector -----------------------------------------------------------------------


def test_plan_limits_for_takes_the_most_generous_plan_per_key(owner, person):
    small = _org_on(_plan("small", slots={"box": 2, "vm": 5}, usage={"a": 10}), owner, "s")
    large = _org_on(_plan("large", slots={"box": 4}, usage={"a": 3, "b": 7}), owner, "l")
    _join(small, owner, person)
    _join(large, owner, person)
    limits = plan_limits_for(person)
    assert limits == PlanLimits(slots={"box": 4, "vm": 5}, usage={"a": 10, "b": 7})


def test_plan_limits_for_counts_only_active_members_of_active_organizations(owner, person):
    kept, suspended_org, archived_org = (
        _org_on(_plan(slug, slots={"box": n}), owner, slug)
        for slug, n in [("kept", 2), ("susp", 3), ("arch", 4)]
    )
    for org in (kept, suspended_org, archived_org):
        _join(org, owner, person)
    Organization.objects.filter(pk=suspended_org.pk).update(status="suspended")
    organizations.org_archive(organization=archived_org, actor=owner)
    assert plan_limits_for(person).slots == {"box": 2}
    members.member_update(organization=kept, user_id=person.pk, actor=owner, status="suspended")
    assert plan_limits_for(person) == PlanLimits()


def test_plan_limits_for_ignores_malformed_admin_data_and_is_one_query(
    owner, django_assert_num_queries
):
    plan = _plan("odd", slots={"box": "9", "vm": -1, "ok": 2, "flag": True}, usage={"a": 1.5})
    _org_on(plan, owner, "odd")
    with django_assert_num_queries(1):
        limits = plan_limits_for(owner)
    assert limits == PlanLimits(slots={"ok": 2}, usage={})


def test_plan_limits_for_someone_in_no_organization_is_empty(person):
    assert plan_limits_for(person) == PlanLimits()


# --- the slot quota -----------------------------------------------------------------------


def test_slot_quota_grows_with_an_organization_plan(owner, person, box_type):
    org = _org_on(_plan("boxes", slots={"box": 3}), owner, "boxes")
    _box(person, "one")
    with pytest.raises(Conflict) as refused:
        _box(person, "two")
    assert refused.value.code == "slot_quota_exceeded"
    assert "the limit is 1" in str(refused.value.detail)

    _join(org, owner, person)
    _box(person, "two")
    _box(person, "three")
    with pytest.raises(Conflict) as refused:
        _box(person, "four")
    assert refused.value.code == "slot_quota_exceeded"
    # The error names the limit that applies: the plan's, not the type's default.
    assert "holds 3 live slot(s); the limit is 3" in str(refused.value.detail)


def test_slot_quota_keeps_a_more_generous_own_limit(owner, person, box_type):
    _join(_org_on(_plan("tiny", slots={"box": 1}), owner, "tiny"), owner, person)
    person.slot_limit = 3
    person.save(update_fields=["slot_limit"])
    for name in ("a", "b", "c"):
        _box(person, name)
    with pytest.raises(Conflict) as refused:
        _box(person, "d")
    assert "the limit is 3" in str(refused.value.detail)


@pytest.mark.parametrize("lapse", ["member_suspended", "org_archived", "org_suspended"])
def test_slot_quota_gets_nothing_from_a_lapsed_organization(owner, person, box_type, lapse):
    org = _org_on(_plan("lapsed", slots={"box": 5}), owner, "lapsed")
    _join(org, owner, person)
    _box(person, "one")
    _box(person, "two")
    if lapse == "member_suspended":
        members.member_update(organization=org, user_id=person.pk, actor=owner, status="suspended")
    elif lapse == "org_archived":
        organizations.org_archive(organization=org, actor=owner)
    else:
        Organization.objects.filter(pk=org.pk).update(status="suspended")
    with pytest.raises(Conflict) as refused:
        _box(person, "three")
    assert "the limit is 1" in str(refused.value.detail)


def test_slot_quota_through_the_api_reports_the_plan_limit(owner, person, box_type):
    _join(_org_on(_plan("api", slots={"box": 2}), owner, "api"), owner, person)
    client = jwt_client(person)
    for name in ("one", "two"):
        created = client.post("/api/v1/slots", {"type": "box", "name": name}, format="json")
        assert created.status_code == 201, created.content
    refused = client.post("/api/v1/slots", {"type": "box", "name": "three"}, format="json")
    assert refused.status_code == 409
    (error,) = refused.json()["errors"]
    assert error["code"] == "slot_quota_exceeded" and "the limit is 2" in error["detail"]


def test_slot_create_query_count_is_pinned(owner, box_type, django_assert_num_queries):
    _org_on(_plan("count", slots={"box": 5}), owner, "count")
    _box(owner, "warm")
    # The type, the owner lock, the name check, both live counts in one query, the plan
    # limits, the insert, the audit subject key and row, and the savepoints around them.
    with django_assert_num_queries(12):
        _box(owner, "pinned")


# --- the usage quota ----------------------------------------------------------------------


def _quota(user) -> dict:
    return {q["meter"]: q for q in usage_selectors.usage_quota(user=user)}


def test_usage_quota_takes_the_plan_limit_when_more_generous(owner, person, calls):
    org = _org_on(_plan("metered", usage={"plan.calls": 50}), owner, "metered")
    assert _quota(person)["plan.calls"]["limit"] == 10
    _join(org, owner, person)
    usage_events_ingest(caller=person, body={"meter": "plan.calls", "quantity": 30})
    quota = _quota(person)["plan.calls"]
    assert (quota["limit"], quota["used"], quota["remaining"]) == (50, 30, 20)
    assert usage_quota_check(user=person) == []
    usage_events_ingest(caller=person, body={"meter": "plan.calls", "quantity": 25})
    (crossing,) = usage_quota_check(user=person)
    assert crossing.limit == Decimal(50) and crossing.used == Decimal(55)
    over_http = jwt_client(person).get("/api/v1/usage/quota").json()
    assert {"meter": "plan.calls", "limit": 50, "used": 55, "remaining": 0}.items() <= next(
        q for q in over_http if q["meter"] == "plan.calls"
    ).items()


def test_usage_quota_keeps_a_more_generous_own_limit_and_unlimited_stays_unlimited(
    owner, person, calls
):
    _join(_org_on(_plan("meagre", usage={"plan.calls": 5}), owner, "meagre"), owner, person)
    assert _quota(person)["plan.calls"]["limit"] == 10
    MeterLimitOverride.objects.create(meter=calls, user=person, limit=None)
    assert "plan.calls" not in _quota(person)


@pytest.mark.parametrize("lapse", ["member_suspended", "org_archived"])
def test_usage_quota_gets_nothing_from_a_lapsed_organization(owner, person, calls, lapse):
    org = _org_on(_plan("gone", usage={"plan.calls": 500}), owner, "gone")
    _join(org, owner, person)
    assert _quota(person)["plan.calls"]["limit"] == 500
    if lapse == "member_suspended":
        members.member_update(organization=org, user_id=person.pk, actor=owner, status="suspended")
    else:
        organizations.org_archive(organization=org, actor=owner)
    assert _quota(person)["plan.calls"]["limit"] == 10
    assert Membership.objects.filter(organization=org, user=person).exists()


def test_usage_quota_of_an_unlimited_user_asks_no_plan(person, django_assert_num_queries):
    Meter.objects.update(limit=None)
    with django_assert_num_queries(2):  # the meters and the user's overrides
        assert usage_selectors.effective_limits(user=person) == {}


# --- the plans list -----------------------------------------------------------------------


def test_plans_list_shape_is_unchanged(person):
    _plan("shape", slots={"box": 2}, usage={"plan.calls": 9})
    rows = jwt_client(person).get("/api/v1/plans").json()
    row = next(r for r in rows if r["key"] == "shape")
    assert row == {
        "key": "shape",
        "name": "shape",
        "description": "",
        "seat_limit": 10,
        "features": [],
        "slot_limits": {"box": 2},
        "usage_limits": {"plan.calls": 9},
    }
