"""Tenant onboarding: one transaction, idempotent by key, dry run, precise refusals."""

from __future__ import annotations

import pytest
from django.core import mail

from audit.models import AuditEvent
from orgs.models import Invitation, Membership, Organization, OrganizationDomain, TenantOnboarding
from tests.factories import UserFactory
from tests.orgs.conftest import assert_error, jwt_client, key_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/admin/tenants"
BODY = {
    "company_name": "Initech",
    "company_domain": "initech.example",
    "admin_email": "bill@initech.example",
    "subscription_plan": "team",
    "initial_user_count": 20,
    "features": ["teams", "access_requests"],
}


@pytest.fixture
def root(db):
    return UserFactory(email="root@example.com", roles=["admin"])


def _counts() -> tuple[int, ...]:
    return (
        Organization.objects.count(),
        OrganizationDomain.objects.count(),
        Invitation.objects.count(),
        Membership.objects.count(),
        TenantOnboarding.objects.count(),
    )


def test_onboarding_invites_a_new_owner(root, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = jwt_client(root).post(URL, BODY, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    org = body["organization"]
    assert org["slug"] == "initech" and org["plan"] == "team" and org["seat_limit"] == 20
    assert org["features"] == ["access_requests", "teams"]
    assert org["domains"][0]["domain"] == "initech.example" and org["domains"][0]["verified"]
    assert body["owner"]["user"] is None and body["seat_limit"] == 20
    invitation = Invitation.objects.get(pk=body["owner"]["invitation"])
    assert [r.key for r in invitation.roles.all()] == ["owner"]
    assert [m.to for m in mail.outbox] == [["bill@initech.example"]]
    assert AuditEvent.objects.filter(action="tenant.onboarded", target_id=org["id"]).exists()


def test_existing_account_joins_as_owner_at_once(root):
    bill = UserFactory(email="Bill@Initech.example")
    body = jwt_client(root).post(URL, BODY, format="json").json()
    assert body["owner"] == {"user": str(bill.pk), "invitation": None}
    membership = Membership.objects.get(user=bill, organization_id=body["organization"]["id"])
    assert [r.key for r in membership.roles.all()] == ["owner"]


def test_replay_gives_the_same_answer_and_creates_nothing_twice(root):
    client = jwt_client(root)
    first = client.post(URL, {**BODY, "idempotency_key": "k-1"}, format="json")
    assert first.status_code == 201
    counts = _counts()
    again = client.post(URL, {**BODY, "idempotency_key": "k-1"}, format="json")
    assert again.status_code == 200 and again.json() == first.json()
    assert _counts() == counts
    changed = client.post(
        URL, {**BODY, "initial_user_count": 30, "idempotency_key": "k-1"}, format="json"
    )
    assert_error(changed, 409, "idempotency_conflict", "idempotency_key")
    assert _counts() == counts


def test_dry_run_writes_and_mails_nothing(root, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    counts = _counts()
    client = jwt_client(root)
    events = AuditEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, {**BODY, "dry_run": True}, format="json")
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["organization"]["slug"] == "initech"
    assert _counts() == counts and AuditEvent.objects.count() == events and mail.outbox == []


@pytest.mark.parametrize(
    ("change", "status", "code", "attr"),
    [
        ({"subscription_plan": "platinum"}, 400, "unknown_plan", "subscription_plan"),
        ({"features": ["sso"]}, 400, "feature_not_in_plan", "features"),
        ({"initial_user_count": 51}, 400, "exceeds_plan", "initial_user_count"),
        ({"initial_user_count": 0}, 400, "min_value", "initial_user_count"),
        ({"company_domain": "not a domain"}, 400, "invalid_domain", "company_domain"),
        ({"admin_email": "nope"}, 400, "invalid_email", "admin_email"),
        ({"company_name": ""}, 400, "blank", "company_name"),
    ],
)
def test_onboarding_bad_input_writes_nothing(root, change, status, code, attr):
    counts = _counts()
    assert_error(jwt_client(root).post(URL, {**BODY, **change}, format="json"), status, code, attr)
    assert _counts() == counts


def test_taken_domain_is_409_and_nothing_half_written(root):
    client = jwt_client(root)
    assert client.post(URL, BODY, format="json").status_code == 201
    counts = _counts()
    response = client.post(URL, {**BODY, "company_name": "Initech Two"}, format="json")
    assert_error(response, 409, "domain_taken")
    assert _counts() == counts


def test_only_platform_admins_and_their_keys_onboard(root, member):
    assert_error(jwt_client(member).post(URL, BODY, format="json"), 403, "permission_denied")
    assert_error(
        key_client(member, ["tenants:write"]).post(URL, BODY, format="json"),
        403,
        "permission_denied",
    )
    assert_error(
        key_client(root, ["orgs:write"]).post(URL, BODY, format="json"), 403, "insufficient_scope"
    )
    assert key_client(root, ["tenants:write"]).post(URL, BODY, format="json").status_code == 201


def test_slug_collisions_get_a_suffix(root):
    client = jwt_client(root)
    client.post(URL, BODY, format="json")
    body = client.post(URL, {**BODY, "company_domain": "initech2.example"}, format="json").json()
    assert body["organization"]["slug"] == "initech-2"
