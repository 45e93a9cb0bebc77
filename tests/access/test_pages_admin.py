"""The admin console for access: resources described, changed and deleted through the
service (its refusals on the form, nothing written), requests read-only, grants revoked by
the action through the service; people without the model permissions get nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from access.models import Grant, RequestableResource
from access.services import requests as svc
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/access/requestableresource/add/"


@pytest.fixture
def root(db):
    return UserFactory(email="root@example.com", is_staff=True, roles=["admin"])


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(world, **change) -> dict:
    data = {
        "organization": str(world.org.pk),
        "resource_key": "billing",
        "resource_name": "Billing console",
        "about": "Invoices and refunds",
        "level_list": "read, write",
        "approver_roles": "owner",
        "approver_teams": "Core",
        "approver_users": "MANAGER@example.com",
        "approvals": "1",
        "longest_days": "3",
        "waits_days": "2",
        "auto_approve": "read",
    }
    return {**data, **change}


def test_admin_describes_a_resource_through_the_service(world, root):
    response = signed_in(root).post(ADD, body(world))
    assert response.status_code == 302, response.context["adminform"].form.errors
    row = RequestableResource.objects.get(key="billing")
    assert row.levels == ["read", "write"] and row.auto_approve_levels == ["read"]
    assert row.approvers == {
        "roles": ["owner"],
        "teams": [str(world.core.pk)],
        "users": [str(world.manager.pk)],
    }
    assert (row.min_approvals, row.max_duration_days, row.pending_days) == (1, 3, 2)
    assert AuditEvent.objects.filter(action="access.resource.created").count() == 1


@pytest.mark.parametrize(
    "change, field_words",
    [
        ({"level_list": "Read"}, "Lower-case letters, digits, - and _."),
        ({"auto_approve": "admin"}, "Not among the levels: admin."),
        ({"longest_days": "999"}, "Between 1 and 365."),
        ({"approver_roles": "nobody"}, "No such role: nobody."),
        ({"approver_users": "outsider@example.com"}, "Not in this organization"),
        ({"approver_teams": "Nope"}, "Not in this organization: Nope."),
        ({"resource_key": "Bad Key"}, "Lower-case letters"),
    ],
)
def test_admin_refusals_are_shown_and_nothing_is_written(world, root, change, field_words):
    response = signed_in(root).post(ADD, body(world, **change))
    assert response.status_code == 200
    assert field_words in response.content.decode()
    assert not RequestableResource.objects.filter(key="billing").exists()
    assert not AuditEvent.objects.filter(action__startswith="access.resource").exists()
    assert not AuditEvent.objects.filter(action__startswith="admin.access").exists()


def test_admin_changes_and_deletes_a_resource(world, root, db_resource):
    client = signed_in(root)
    url = f"/admin/access/requestableresource/{db_resource.pk}/change/"
    page = client.get(url).content.decode()
    assert "read, write, admin" in page and "manager@example.com" in page
    response = client.post(url, body(world, resource_key="ignored", longest_days="5"))
    assert response.status_code == 302
    db_resource.refresh_from_db()
    assert db_resource.key == "production-db" and db_resource.max_duration_days == 5
    assert AuditEvent.objects.filter(action="access.resource.updated").count() == 1
    delete = f"/admin/access/requestableresource/{db_resource.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not RequestableResource.objects.filter(pk=db_resource.pk).exists()
    assert AuditEvent.objects.filter(action="access.resource.deleted").count() == 1


def test_requests_are_read_only_and_grants_revoked_by_the_action(world, root, db_resource):
    req = svc.request_submit(
        organization=world.org,
        requester=world.member,
        resource="production-db",
        access_level="read",
        justification="Quarterly audit",
        duration_days=2,
    )
    client = signed_in(root)
    change = client.get(f"/admin/access/accessrequest/{req.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    grant = Grant.objects.get()
    listing = client.get("/admin/access/grant/").content.decode()
    assert "revoke_grants" in listing
    client.post("/admin/access/grant/", {"action": "revoke_grants", "_selected_action": [grant.pk]})
    grant.refresh_from_db()
    assert grant.status == "revoked"


@pytest.mark.parametrize("roles", [["manager"], ["member"]])
def test_staff_without_model_permissions_get_nothing(world, db_resource, roles):
    user = UserFactory(email="staffer@example.com", is_staff=True, roles=roles)
    client = signed_in(user)
    for path in ("requestableresource", "accessrequest", "grant", "securitypolicy"):
        assert client.get(f"/admin/access/{path}/").status_code in (302, 403), path
    assert client.post(ADD, body(world)).status_code in (302, 403)
    assert not RequestableResource.objects.filter(key="billing").exists()
