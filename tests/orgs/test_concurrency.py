"""Duplicates and seats under real concurrency: threads, each with its own PostgreSQL
connection, released at once."""

from __future__ import annotations

import importlib

import pytest
from django.conf import settings

from config.errors import Conflict
from orgs.models import Invitation, Membership, Organization, Plan, Role, Team
from orgs.services import invitations, members, organizations, teams
from tests.factories import UserFactory
from tests.orgs.conftest import verified
from tests.threads import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks)"),
    pytest.mark.django_db(transaction=True),
]

THREADS = 12


@pytest.fixture(autouse=True)
def _seeded():
    """Transactional tests flush the database between tests, seeded rows included."""
    seed = importlib.import_module("orgs.migrations.0002_seed_plans_and_builtin_roles")
    for key, name in seed.BUILTIN_ROLES:
        Role.objects.get_or_create(
            organization=None, key=key, defaults={"name": name, "builtin": True}
        )
    for row in seed.PLANS:
        Plan.objects.get_or_create(key=row["key"], defaults=row)


def _codes(results) -> list[str]:
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, Conflict)]
    assert not unexpected, unexpected
    return sorted(r.code for r in results if isinstance(r, Conflict))


@pytest.fixture
def owner():
    return verified(UserFactory(email="owner@example.com"))


@pytest.fixture
def org(owner):
    return organizations.org_create(name="Acme", slug="acme", actor=owner)


def test_duplicate_slugs_under_concurrency(owner):
    results = race(
        THREADS, lambda i: organizations.org_create(name=f"N{i}", slug="same", actor=owner)
    )
    assert _codes(results) == ["slug_taken"] * (THREADS - 1)
    assert Organization.objects.filter(slug="same").count() == 1


def test_duplicate_team_names_under_concurrency(org, owner):
    results = race(
        THREADS,
        lambda i: teams.team_create(
            organization=org, actor=owner, name="Core" if i % 2 else "core"
        ),
    )
    assert _codes(results) == ["name_taken"] * (THREADS - 1)
    assert Team.objects.filter(organization=org).count() == 1


def test_seats_hold_under_concurrent_adds_and_invitations(org, owner):
    Organization.objects.filter(pk=org.pk).update(seat_limit=5)  # the owner holds one
    people = [UserFactory(email=f"p{i}@example.com") for i in range(THREADS)]

    def work(i: int):
        if i % 2:
            return members.member_add(organization=org, actor=owner, user=people[i])
        return invitations.invitation_create(
            organization=org, actor=owner, email=f"inv{i}@example.com"
        )

    results = race(THREADS, work)
    assert _codes(results) == ["seat_limit_reached"] * (THREADS - 4)
    used = (
        Membership.objects.filter(organization=org).count()
        + Invitation.objects.filter(organization=org, status="pending").count()
    )
    assert used == 5


def test_one_pending_invitation_per_address_under_concurrency(org, owner):
    results = race(
        THREADS,
        lambda i: invitations.invitation_create(
            organization=org, actor=owner, email="Same@Example.com"
        ),
    )
    assert _codes(results) == ["invitation_pending"] * (THREADS - 1)
    assert Invitation.objects.filter(organization=org, status="pending").count() == 1


def test_last_owner_holds_under_concurrent_demotions(org, owner):
    second = UserFactory(email="second@example.com")
    members.member_add(organization=org, actor=owner, user=second, roles=["owner"])
    results = race(
        2,
        lambda i: members.member_update(
            organization=org,
            user_id=(owner, second)[i].pk,
            actor=(owner, second)[i],
            roles=["admin"],
        ),
    )
    assert _codes(results) == ["last_owner"]
    owners = Membership.objects.filter(organization=org, roles__key="owner").count()
    assert owners == 1
