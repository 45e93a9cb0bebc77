"""A membership's end racing the decisions that start grants (PostgreSQL row locks): a
removal, suspension or archive either comes first (the approval or submission is refused)
or waits for it and revokes the grant it started; no active grant outlives the membership."""

from __future__ import annotations

import pytest
from django.conf import settings

from access.models import AccessRequest, Grant
from access.services import requests as svc
from access.services import resources
from config.errors import DomainError
from orgs.models import Organization
from orgs.services import members, organizations
from tests.factories import UserFactory
from tests.orgs.conftest import verified
from tests.orgs.test_concurrency import _seeded  # noqa: F401 - the built-in roles, re-seeded
from tests.threads import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks)"),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 4


def _setup(auto: bool):
    owner = verified(UserFactory(email="owner@example.com"))
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    asker = UserFactory(email="asker@example.com")
    approver = UserFactory(email="approver@example.com")
    members.member_add(organization=org, actor=owner, user=asker, roles=["member"])
    members.member_add(organization=org, actor=owner, user=approver, roles=["member"])
    resources.resource_create(
        organization=org,
        actor=owner,
        key="db",
        name="DB",
        levels=["read", "write"],
        approvers={"users": [str(approver.pk)]},
        auto_approve_levels=["read"] if auto else [],
    )
    return owner, org, asker, approver


def _submit(org, asker, level):
    return svc.request_submit(
        organization=org,
        requester=asker,
        resource="db",
        access_level=level,
        justification="x",
        duration_days=1,
    )


def _end(kind, owner, org, asker):
    if kind == "remove":
        members.member_remove(organization=org, user_id=asker.pk, actor=owner)
    elif kind == "suspend":
        members.member_update(organization=org, user_id=asker.pk, actor=owner, status="suspended")
    else:
        organizations.org_archive(organization=Organization.objects.get(pk=org.pk), actor=owner)


def _assert_no_grant_outlives(results, org, asker) -> None:
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    assert not Grant.objects.filter(organization=org, user=asker, status="active").exists()
    assert not AccessRequest.objects.filter(
        organization=org, requester=asker, status="pending"
    ).exists()


@pytest.mark.parametrize("kind", ["remove", "suspend", "archive"])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_end_races_an_approval(kind, round_):
    owner, org, asker, approver = _setup(auto=False)
    req = _submit(org, asker, "write")
    results = race(
        2,
        lambda i: _end(kind, owner, org, asker)
        if (i + round_) % 2
        else svc.request_review(access_request=req, reviewer=approver, action="approve"),
    )
    _assert_no_grant_outlives(results, org, asker)


@pytest.mark.parametrize("kind", ["remove", "suspend", "archive"])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_end_races_an_auto_approved_submission(kind, round_):
    owner, org, asker, _approver = _setup(auto=True)
    results = race(
        2,
        lambda i: _end(kind, owner, org, asker)
        if (i + round_) % 2
        else _submit(org, asker, "read"),
    )
    _assert_no_grant_outlives(results, org, asker)
