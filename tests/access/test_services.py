"""The access request state machine: submission, reviews, delegation, decisions, grants,
expiry and lapse, with their audit rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from access.models import AccessRequest, Grant
from access.selectors import access_check
from access.services import requests as svc
from access.services import resources
from audit.models import AuditEvent
from config.errors import Conflict, Forbidden, Invalid, NotFound
from notifications.models import Notification
from orgs.permissions import can, permission_sources

pytestmark = pytest.mark.django_db


def _submit(world, who=None, **kw):
    data = {
        "resource": "production-db",
        "access_level": "write",
        "justification": "Incident 42",
        "duration_days": 7,
    }
    data.update(kw)
    return svc.request_submit(organization=world.org, requester=who or world.member, **data)


def _actions(target) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_id=str(target.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_submit_resolves_approvers_without_the_requester(world, db_resource):
    req = _submit(world)
    assert req.status == "pending"
    assert {u.pk for u in req.approvers.all()} == {world.admin.pk, world.manager.pk}
    assert req.decide_by == req.created_at + timedelta(days=7)
    assert _actions(req) == ["access.request.created"]
    # The approver who asks is not an approver of their own request.
    own = _submit(world, who=world.admin, access_level="read")
    assert {u.pk for u in own.approvers.all()} == {world.manager.pk}
    to_review = Notification.objects.filter(kind="access_request_to_review")
    assert sorted(str(n.user_id) for n in to_review) == sorted(
        [str(world.admin.pk), str(world.manager.pk), str(world.manager.pk)]
    )


def test_submit_bad_input(world, db_resource):
    with pytest.raises(NotFound) as exc:
        _submit(world, resource="nope")
    assert exc.value.code == "unknown_resource"
    with pytest.raises(Invalid) as exc:
        _submit(world, access_level="root")
    assert exc.value.code == "unknown_level"
    with pytest.raises(Invalid) as exc:
        _submit(world, duration_days=15)
    assert exc.value.code == "duration_too_long"
    with pytest.raises(Invalid):
        _submit(world, duration_days=0)
    with pytest.raises(Forbidden):
        _submit(world, who=world.outsider)
    _submit(world)
    with pytest.raises(Conflict) as exc:
        _submit(world)
    assert exc.value.code == "request_pending"
    assert AccessRequest.objects.count() == 1


def test_one_approval_starts_a_grant_narrowed_by_conditions(world, db_resource):
    req = _submit(world)
    svc.request_review(
        access_request=req,
        reviewer=world.admin,
        action="approve",
        comments="ok for the incident",
        conditions={"duration_days": 2, "access_level": "read"},
    )
    req.refresh_from_db()
    assert req.status == "approved"
    grant = Grant.objects.get(request=req)
    assert grant.access_level == "read"
    assert grant.expires_at == grant.starts_at + timedelta(days=2)
    assert _actions(req) == ["access.request.created", "access.request.approved"]
    assert _actions(grant) == ["access.grant.started"]
    assert access_check(
        user_id=world.member.pk,
        organization_id=world.org.pk,
        resource="production-db",
        access_level="read",
    )["allowed"]
    assert Notification.objects.filter(user=world.member, kind="access_request_decided").exists()
    with pytest.raises(Conflict) as exc:
        _submit(world, access_level="read")
    assert exc.value.code == "already_granted"


def test_conditions_only_narrower(world, db_resource):
    req = _submit(world)
    for conditions in ({"duration_days": 8}, {"access_level": "admin"}, {"access_level": "x"}):
        with pytest.raises(Invalid) as exc:
            svc.request_review(
                access_request=req, reviewer=world.admin, action="approve", conditions=conditions
            )
        assert exc.value.code == "conditions_wider"
    req.refresh_from_db()
    assert req.status == "pending" and not req.reviews.exists()


def test_min_approvals_needs_distinct_approvers(world, db_resource):
    resources.resource_update(resource=db_resource, actor=world.owner, min_approvals=2)
    req = _submit(world)
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    req.refresh_from_db()
    assert req.status == "pending"
    with pytest.raises(Conflict) as exc:
        svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    assert exc.value.code == "already_reviewed"
    svc.request_review(access_request=req, reviewer=world.manager, action="approve")
    req.refresh_from_db()
    assert req.status == "approved"
    with pytest.raises(Conflict) as exc:
        svc.request_review(access_request=req, reviewer=world.manager, action="deny")
    assert exc.value.code == "already_decided"


def test_deny_and_non_approver(world, db_resource):
    req = _submit(world)
    with pytest.raises(Forbidden) as exc:
        svc.request_review(access_request=req, reviewer=world.owner, action="approve")
    assert exc.value.code == "not_an_approver"
    with pytest.raises(Forbidden):
        svc.request_review(access_request=req, reviewer=world.member, action="approve")
    svc.request_review(access_request=req, reviewer=world.manager, action="deny", comments="no")
    req.refresh_from_db()
    assert req.status == "denied" and not Grant.objects.exists()
    assert _actions(req)[-1] == "access.request.denied"


def test_delegation_swaps_the_approver(world, db_resource):
    req = _submit(world)
    for bad in (world.member.pk, world.outsider.pk, world.admin.pk, "not-a-uuid"):
        with pytest.raises(Invalid) as exc:
            svc.request_review(
                access_request=req, reviewer=world.manager, action="delegate", delegate_to=bad
            )
        assert exc.value.code == "invalid_delegate"
    svc.request_review(
        access_request=req, reviewer=world.manager, action="delegate", delegate_to=world.spare.pk
    )
    assert {u.pk for u in req.approvers.all()} == {world.admin.pk, world.spare.pk}
    with pytest.raises(Conflict) as exc:
        svc.request_review(access_request=req, reviewer=world.manager, action="approve")
    assert exc.value.code == "already_reviewed"
    svc.request_review(access_request=req, reviewer=world.spare, action="approve")
    req.refresh_from_db()
    assert req.status == "approved"
    assert "access.request.delegated" in _actions(req)


def test_cancel_only_by_the_requester_while_pending(world, db_resource):
    req = _submit(world)
    with pytest.raises(Forbidden):
        svc.request_cancel(access_request=req, actor=world.admin)
    svc.request_cancel(access_request=req, actor=world.member)
    req.refresh_from_db()
    assert req.status == "canceled"
    with pytest.raises(Conflict) as exc:
        svc.request_cancel(access_request=req, actor=world.member)
    assert exc.value.code == "already_decided"
    assert _actions(req)[-1] == "access.request.canceled"


def test_auto_approve_levels(world, db_resource):
    resources.resource_update(resource=db_resource, actor=world.owner, auto_approve_levels=["read"])
    req = _submit(world, access_level="read")
    req.refresh_from_db()
    assert req.status == "approved"
    assert Grant.objects.get(request=req).is_active()
    assert _actions(req) == ["access.request.created", "access.request.approved"]


def test_expiry_without_the_task_then_the_task(world, db_resource):
    req = _submit(world, duration_days=1)
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    grant = Grant.objects.get(request=req)
    ask = {
        "user_id": world.member.pk,
        "organization_id": world.org.pk,
        "resource": "production-db",
        "access_level": "write",
    }
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        assert svc.access_expire_due()["expiring"] == 1
        assert Notification.objects.filter(kind="grant_expiring", user=world.member).count() == 1
        assert svc.access_expire_due()["expiring"] == 0
    with time_machine.travel(grant.expires_at + timedelta(seconds=1), tick=False):
        # The task has not run: the grant is still marked active, and gives nothing.
        assert Grant.objects.get(pk=grant.pk).status == "active"
        assert access_check(**ask)["allowed"] is False
        assert Grant.objects.get(pk=grant.pk).effective_status == "expired"
        assert svc.access_expire_due()["expired"] == 1
        assert svc.access_expire_due()["expired"] == 0
    grant.refresh_from_db()
    assert grant.status == "expired"
    assert _actions(grant) == ["access.grant.started", "access.grant.expired"]
    assert Notification.objects.filter(kind="grant_expired", user=world.member).exists()


def test_pending_request_lapses(world, db_resource):
    req = _submit(world)
    with time_machine.travel(req.decide_by + timedelta(seconds=1), tick=False):
        with pytest.raises(Conflict) as exc:
            svc.request_review(access_request=req, reviewer=world.admin, action="approve")
        assert exc.value.code == "already_decided"
        assert svc.access_expire_due()["lapsed"] == 1
    req.refresh_from_db()
    assert req.status == "lapsed"
    assert _actions(req)[-1] == "access.request.lapsed"


def test_revoke(world, db_resource):
    req = _submit(world)
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    grant = Grant.objects.get(request=req)
    with pytest.raises(Forbidden):
        svc.grant_revoke(grant=grant, actor=world.spare)
    svc.grant_revoke(grant=grant, actor=world.manager)
    grant.refresh_from_db()
    assert grant.status == "revoked"
    with pytest.raises(Conflict) as exc:
        svc.grant_revoke(grant=grant, actor=world.owner)
    assert exc.value.code == "grant_ended"
    assert _actions(grant)[-1] == "access.grant.revoked"


def test_org_role_grant_adds_the_role_while_active(world):
    assert not can(world.member, "members:manage", world.org)
    req = svc.request_submit(
        organization=world.org,
        requester=world.member,
        resource="org-role:admin",
        access_level="assume",
        justification="Covering for the admin",
        duration_days=1,
    )
    # Owners and admins decide a role request; the manager does not hold admin's powers.
    assert {u.pk for u in req.approvers.all()} == {world.owner.pk, world.admin.pk}
    svc.request_review(access_request=req, reviewer=world.owner, action="approve")
    assert can(world.member, "members:manage", world.org)
    grant = Grant.objects.get(request=req)
    sources = permission_sources(world.member, world.org)["members:manage"]
    assert sources == [{"type": "grant", "id": str(grant.pk), "name": sources[0]["name"]}]
    with time_machine.travel(grant.expires_at + timedelta(seconds=1), tick=False):
        assert not can(world.member, "members:manage", world.org)
    with pytest.raises(Conflict) as exc:
        svc.request_submit(
            organization=world.org,
            requester=world.admin,
            resource="org-role:admin",
            access_level="assume",
            justification="x",
            duration_days=1,
        )
    assert exc.value.code == "already_granted"


def test_org_role_owner_only_owners_decide(world):
    req = svc.request_submit(
        organization=world.org,
        requester=world.admin,
        resource="org-role:owner",
        access_level="assume",
        justification="Quarter close",
        duration_days=1,
    )
    assert [u.pk for u in req.approvers.all()] == [world.owner.pk]


def test_check_refuses_once_the_holder_leaves_or_the_organization_is_archived(world, db_resource):
    from orgs.services import members, organizations

    for who in (world.member, world.spare):
        req = _submit(world, who=who, access_level="read", duration_days=3)
        svc.request_review(access_request=req, reviewer=world.admin, action="approve")

    def allowed(user) -> bool:
        return access_check(
            user_id=user.pk,
            organization_id=world.org.pk,
            resource="production-db",
            access_level="read",
        )["allowed"]

    assert allowed(world.member) and allowed(world.spare)
    members.member_remove(organization=world.org, actor=world.owner, user_id=world.member.pk)
    assert not allowed(world.member) and allowed(world.spare)
    organizations.org_archive(organization=world.org, actor=world.owner)
    assert not allowed(world.spare)
