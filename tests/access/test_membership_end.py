"""A membership's end ends its access: removed, left, suspended or the organization archived,
the member's (or every member's) active grants there are revoked at once and audited with the
reason, and their pending requests there canceled (a suspended member keeps none that could
start a grant later), in the orgs service's transaction (``orgs.hooks``). Other
organizations' grants and requests, and other members', are untouched."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from access.models import AccessRequest, Grant
from access.services import requests as svc
from access.services import resources
from audit.models import AuditEvent
from config.errors import Conflict
from orgs import hooks
from orgs.models import Membership
from orgs.services import members, organizations
from tests.access.conftest import jwt_client

pytestmark = pytest.mark.django_db


def _grant(organization, user, approver, key="production-db", level="write") -> Grant:
    req = svc.request_submit(
        organization=organization,
        requester=user,
        resource=key,
        access_level=level,
        justification="Incident 42",
        duration_days=3,
    )
    svc.request_review(access_request=req, reviewer=approver, action="approve")
    return Grant.objects.get(request=req)


def _pending(organization, user, level="admin") -> AccessRequest:
    return svc.request_submit(
        organization=organization,
        requester=user,
        resource="production-db",
        access_level=level,
        justification="Later",
        duration_days=2,
    )


@pytest.fixture
def elsewhere(world):
    """A second organization where the member also holds a grant and waits on a request."""
    org = organizations.org_create(name="Beta", slug="beta", actor=world.owner)
    members.member_add(organization=org, actor=world.owner, user=world.member, roles=["member"])
    resources.resource_create(
        organization=org,
        actor=world.owner,
        key="production-db",
        name="Production database",
        levels=["read", "write", "admin"],
        approvers={"roles": ["owner"], "teams": [], "users": []},
        max_duration_days=14,
        auto_approve_levels=[],
    )
    return org, _grant(org, world.member, world.owner), _pending(org, world.member)


def _check(world, user) -> dict:
    return (
        jwt_client(user)
        .get(
            f"/api/v1/access/check?user={user.pk}&organization={world.org.pk}"
            "&resource=production-db&access_level=write"
        )
        .json()
    )


def _revoked_event(grant: Grant) -> AuditEvent:
    return AuditEvent.objects.get(target_id=str(grant.pk), action="access.grant.revoked")


def _assert_untouched(elsewhere) -> None:
    _org, grant, pending = elsewhere
    grant.refresh_from_db()
    pending.refresh_from_db()
    assert grant.status == "active" and grant.ended_at is None
    assert pending.status == "pending"


def _assert_ended(world, grant: Grant, pending: AccessRequest, *, actor, reason: str) -> None:
    grant.refresh_from_db()
    pending.refresh_from_db()
    assert grant.status == "revoked" and grant.ended_at is not None
    event = _revoked_event(grant)
    assert event.metadata["reason"] == reason
    assert event.metadata["organization"] == str(world.org.pk)
    assert event.actor_id == str(actor.pk)
    assert pending.status == "canceled" and pending.decided_at is not None
    canceled = AuditEvent.objects.get(target_id=str(pending.pk), action="access.request.canceled")
    assert canceled.metadata["reason"] == reason
    body = _check(world, grant.user)
    assert body["allowed"] is False and body["grant"] is None
    mine = jwt_client(grant.user).get("/api/v1/users/me/grants").json()["results"]
    assert {g["id"]: g["status"] for g in mine}[str(grant.pk)] == "revoked"


def test_removed_member_loses_grants_here_only(world, db_resource, elsewhere):
    grant = _grant(world.org, world.member, world.admin)
    other_member = _grant(world.org, world.spare, world.admin)
    pending = _pending(world.org, world.member)
    assert _check(world, world.member)["allowed"] is True
    response = jwt_client(world.admin).delete(
        f"/api/v1/orgs/{world.org.pk}/members/{world.member.pk}"
    )
    assert response.status_code == 204, response.content
    _assert_ended(world, grant, pending, actor=world.admin, reason="org_member_removed")
    other_member.refresh_from_db()
    assert other_member.status == "active"
    _assert_untouched(elsewhere)


def test_member_who_leaves_loses_grants(world, db_resource, elsewhere):
    grant = _grant(world.org, world.member, world.admin)
    pending = _pending(world.org, world.member)
    members.member_remove(organization=world.org, user_id=world.member.pk, actor=world.member)
    _assert_ended(world, grant, pending, actor=world.member, reason="org_member_removed")
    _assert_untouched(elsewhere)


def test_suspended_member_loses_grants_and_reactivation_does_not_restore_them(
    world, db_resource, elsewhere
):
    grant = _grant(world.org, world.member, world.admin)
    pending = _pending(world.org, world.member)
    response = jwt_client(world.admin).patch(
        f"/api/v1/orgs/{world.org.pk}/members/{world.member.pk}",
        {"status": "suspended"},
        format="json",
    )
    assert response.status_code == 200, response.content
    _assert_ended(world, grant, pending, actor=world.admin, reason="org_member_suspended")
    members.member_update(
        organization=world.org, user_id=world.member.pk, actor=world.admin, status="active"
    )
    assert _check(world, world.member)["allowed"] is False
    _assert_untouched(elsewhere)


def test_archive_revokes_every_members_grants(world, db_resource, elsewhere):
    grant = _grant(world.org, world.member, world.admin)
    spare_grant = _grant(world.org, world.spare, world.admin)
    pending = _pending(world.org, world.member)
    organizations.org_archive(organization=world.org, actor=world.owner)
    _assert_ended(world, grant, pending, actor=world.owner, reason="org_archived")
    spare_grant.refresh_from_db()
    assert spare_grant.status == "revoked"
    assert _revoked_event(spare_grant).metadata["reason"] == "org_archived"
    _assert_untouched(elsewhere)


def test_grant_past_its_end_is_left_for_the_expiry_task(world, db_resource):
    grant = _grant(world.org, world.member, world.admin)
    with time_machine.travel(grant.expires_at + timedelta(minutes=1), tick=False):
        members.member_remove(organization=world.org, user_id=world.member.pk, actor=world.admin)
    grant.refresh_from_db()
    assert grant.status == "active"
    assert not AuditEvent.objects.filter(target_id=str(grant.pk), action="access.grant.revoked")
    assert svc.access_expire_due(now=grant.expires_at + timedelta(minutes=2))["expired"] == 1


def test_a_refused_change_revokes_nothing(world, db_resource):
    """The last owner cannot leave: the membership stays, and so does their grant."""
    grant = _grant(world.org, world.owner, world.admin)
    with pytest.raises(Conflict) as refused:
        members.member_remove(organization=world.org, user_id=world.owner.pk, actor=world.owner)
    assert refused.value.code == "last_owner"
    grant.refresh_from_db()
    assert grant.status == "active"


def test_same_transaction_a_failing_handler_rolls_back_the_removal(world, db_resource, monkeypatch):
    grant = _grant(world.org, world.member, world.admin)

    def boom(**kwargs):
        raise RuntimeError("handler failed")

    monkeypatch.setattr(hooks, "_membership_ended", [*hooks._membership_ended, boom])
    with pytest.raises(RuntimeError):
        members.member_remove(organization=world.org, user_id=world.member.pk, actor=world.admin)
    grant.refresh_from_db()
    assert grant.status == "active"
    assert Membership.objects.filter(organization=world.org, user=world.member).exists()
    assert not AuditEvent.objects.filter(target_id=str(grant.pk), action="access.grant.revoked")


def test_erasure_ends_the_memberships_and_their_grants(world, db_resource, elsewhere):
    grant = _grant(world.org, world.member, world.admin)
    members.memberships_end_for_erasure(user=world.member)
    grant.refresh_from_db()
    assert grant.status == "revoked"
    event = _revoked_event(grant)
    assert event.metadata["reason"] == "erasure" and event.actor_id == ""
    _org, other_grant, other_pending = elsewhere
    other_grant.refresh_from_db()
    other_pending.refresh_from_db()
    assert other_grant.status == "revoked" and other_pending.status == "canceled"
