"""The admin console for access: read-only pages, and revoking grants through the service."""

from __future__ import annotations

import pytest
from django.test import Client

from access.models import Grant
from access.services import requests as svc
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    root = UserFactory(email="root@example.com", is_superuser=True, is_staff=True, roles=["admin"])
    client = Client()
    client.force_login(root)
    return client


def test_admin_pages_and_revoke_action(world, db_resource, admin_client):
    req = svc.request_submit(
        organization=world.org,
        requester=world.member,
        resource="production-db",
        access_level="read",
        justification="Quarterly audit",
        duration_days=2,
    )
    svc.request_review(access_request=req, reviewer=world.admin, action="approve", comments="ok")
    grant = Grant.objects.get()
    for path in ("requestableresource", "accessrequest", "grant"):
        page = admin_client.get(f"/admin/access/{path}/")
        assert page.status_code == 200 and "production-db" in page.content.decode()
    detail = admin_client.get(f"/admin/access/accessrequest/{req.pk}/change/").content.decode()
    assert "Quarterly audit" in detail and "ok" in detail
    assert admin_client.get("/admin/access/grant/add/").status_code == 403
    response = admin_client.post(
        "/admin/access/grant/", {"action": "revoke_grants", "_selected_action": [grant.pk]}
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.status == "revoked"
    assert AuditEvent.objects.filter(action="access.grant.revoked").count() == 1
