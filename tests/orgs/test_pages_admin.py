"""Tenant onboarding as a page of the admin console: the tenant_onboard service behind a
form, for platform admins only."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from orgs.models import Invitation, Organization
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/orgs/organization/onboard/"
FORM = {
    "company_name": "Initech",
    "company_domain": "initech.example",
    "admin_email": "bill@initech.example",
    "subscription_plan": "team",
    "initial_user_count": "20",
    "features": "",
    "idempotency_key": "",
}


@pytest.fixture
def root(db):
    user = UserFactory(email="root@example.com", roles=["admin"])
    client = Client()
    client.force_login(user)
    return client


def test_onboarding_creates_the_tenant_and_its_invited_owner(root):
    response = root.post(URL, {**FORM, "idempotency_key": "k-1"})
    org = Organization.objects.get(name="Initech")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/orgs/organization/{org.pk}/change/"
    assert (org.plan.key, org.seat_limit) == ("team", 20)
    assert Invitation.objects.get(organization=org).email == "bill@initech.example"
    assert AuditEvent.objects.filter(action="tenant.onboarded").count() == 1
    # The same key and content is a replay; other content under the key is a conflict.
    assert root.post(URL, {**FORM, "idempotency_key": "k-1"}).status_code == 302
    response = root.post(URL, {**FORM, "idempotency_key": "k-1", "company_name": "Other"})
    assert response.status_code == 409
    assert response.context["form"].errors["idempotency_key"]
    assert Organization.objects.count() == 1


def test_dry_run_shows_what_would_be_created_and_writes_nothing(root):
    response = root.post(URL, {**FORM, "dry_run": "on"})
    assert response.status_code == 200
    assert response.context["result"]["dry_run"] is True
    assert 'id="onboard-dry-run"' in response.content.decode()
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    "change, field, status",
    [
        ({"initial_user_count": "100000"}, "initial_user_count", 400),
        ({"features": "teleportation"}, "features", 400),
        ({"company_domain": "not a domain"}, "company_domain", 400),
        ({"subscription_plan": "platinum"}, "subscription_plan", 400),
        ({"admin_email": "nope"}, "admin_email", 400),
    ],
)
def test_bad_input_is_shown_by_the_field(root, change, field, status):
    response = root.post(URL, {**FORM, **change})
    assert response.status_code == status
    assert response.context["form"].errors[field]
    assert not Organization.objects.exists()


def test_only_platform_admins_onboard(db):
    staff = UserFactory(email="staff@example.com", roles=["manager"])
    client = Client()
    client.force_login(staff)
    assert client.post(URL, FORM).status_code in (302, 403)
    assert not Organization.objects.exists()
    assert "Onboard a tenant" not in client.get("/admin/orgs/organization/").content.decode()
