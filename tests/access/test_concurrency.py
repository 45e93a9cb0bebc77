"""Concurrent reviews decide a request once: threads, each with its own PostgreSQL
connection, released at once against the request's row lock."""

from __future__ import annotations

import pytest
from django.conf import settings

from access.models import AccessRequest, Grant
from access.services import requests as svc
from access.services import resources
from audit.models import AuditEvent
from config.errors import Conflict
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

APPROVERS = 6


@pytest.mark.parametrize("min_approvals", [1, 2])
def test_concurrent_approvals_start_one_grant(min_approvals):
    owner = verified(UserFactory(email="owner@example.com"))
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    requester = UserFactory(email="asker@example.com")
    members.member_add(organization=org, actor=owner, user=requester, roles=["member"])
    approvers = []
    for i in range(APPROVERS):
        user = UserFactory(email=f"approver{i}@example.com")
        members.member_add(organization=org, actor=owner, user=user, roles=["member"])
        approvers.append(user)
    resources.resource_create(
        organization=org,
        actor=owner,
        key="db",
        name="DB",
        levels=["read"],
        approvers={"users": [str(u.pk) for u in approvers]},
        min_approvals=min_approvals,
    )
    req = svc.request_submit(
        organization=org,
        requester=requester,
        resource="db",
        access_level="read",
        justification="x",
        duration_days=1,
    )
    results = race(
        APPROVERS,
        lambda i: svc.request_review(
            access_request=req, reviewer=approvers[i], action="approve" if i else "deny"
        ),
    )
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, Conflict)]
    assert not unexpected, unexpected
    refused = [r.code for r in results if isinstance(r, Conflict)]
    assert set(refused) <= {"already_decided"}
    req.refresh_from_db()
    assert req.status in ("approved", "denied")
    decisions = AuditEvent.objects.filter(
        target_id=str(req.pk), action__in=["access.request.approved", "access.request.denied"]
    )
    assert decisions.count() == 1
    assert Grant.objects.filter(request=req).count() == (1 if req.status == "approved" else 0)
    # Everyone who got in before the decision reviewed once; the rest found it decided.
    assert req.reviews.count() + len(refused) == APPROVERS
    assert AccessRequest.objects.get(pk=req.pk).decided_at is not None
