"""The admin console for organizations, the account export and erasure, and joining by a
verified domain."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed
from django.test import Client

from audit.models import AuditEvent
from orgs.models import Invitation, Membership, OrganizationDomain, TeamMembership
from orgs.services import domains
from tests.factories import UserFactory
from tests.orgs.conftest import jwt_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    root = UserFactory(email="root@example.com", is_superuser=True, is_staff=True, roles=["admin"])
    client = Client()
    client.force_login(root)
    return client


def test_admin_lists_organizations_with_seats_members_and_teams(world, admin_client):
    world.org.seat_limit = 10
    world.org.save(update_fields=["seat_limit"])
    html = admin_client.get("/admin/orgs/organization/").content.decode()
    assert "acme" in html and "7 / 10" in html
    page = admin_client.get(f"/admin/orgs/organization/{world.org.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    for expected in ("owner@example.com", "Core", "pending@example.com", "acme.example"):
        assert expected in text
    for path in ("plan", "team", "invitation", "organizationdomain", "role"):
        assert admin_client.get(f"/admin/orgs/{path}/").status_code == 200


def test_admin_actions_run_the_services(world, admin_client):
    domain = OrganizationDomain.objects.get(domain="acme.example")
    response = admin_client.post(
        "/admin/orgs/organizationdomain/",
        {"action": "verify_domains", "_selected_action": [domain.pk]},
    )
    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.verified
    assert AuditEvent.objects.filter(action="org.domain.verified").exists()
    admin_client.post(
        "/admin/orgs/invitation/",
        {"action": "cancel_invitations", "_selected_action": [world.pending.pk]},
    )
    assert Invitation.objects.get(pk=world.pending.pk).status == "canceled"
    admin_client.post(
        "/admin/orgs/organization/",
        {"action": "archive_organizations", "_selected_action": [world.org.pk]},
    )
    world.org.refresh_from_db()
    assert world.org.status == "archived"


def test_export_lists_the_persons_organizations(world):
    doc = jwt_client(world.manager).get("/api/v1/users/me/export").json()
    assert doc["organizations"] == [
        {
            "organization": {"id": str(world.org.pk), "slug": "acme"},
            "roles": ["manager"],
            "permissions": [],
            "status": "active",
            "joined_at": doc["organizations"][0]["joined_at"],
        }
    ]


def test_erasure_ends_memberships(world):
    from accounts.hooks import run_erasure_steps

    run_erasure_steps(user=world.member)
    assert not Membership.objects.filter(user=world.member).exists()
    assert not TeamMembership.objects.filter(user=world.member).exists()
    assert AuditEvent.objects.filter(
        action="org.member.removed", metadata__reason="erasure", target_id=str(world.member.pk)
    ).exists()


def test_verified_email_at_an_auto_domain_joins_as_member(world, rf):
    domains.domain_add(
        organization=world.org,
        actor=None,
        domain="acme.test",
        join_mode="auto",
        verified=True,
    )
    newcomer = UserFactory(email="newcomer@acme.test")
    address = EmailAddress.objects.create(user=newcomer, email=newcomer.email, verified=True)
    email_confirmed.send(sender=EmailAddress, request=rf.get("/"), email_address=address)
    membership = Membership.objects.get(organization=world.org, user=newcomer)
    assert [r.key for r in membership.roles.all()] == ["member"]
    # A suggest-only or unverified domain adds nobody.
    row = OrganizationDomain.objects.get(domain="acme.example")
    row.join_mode = "auto"
    row.save()
    other = UserFactory(email="x@acme.example")
    address = EmailAddress.objects.create(user=other, email=other.email, verified=True)
    email_confirmed.send(sender=EmailAddress, request=rf.get("/"), email_address=address)
    assert not Membership.objects.filter(user=other).exists()


def test_domain_rules(world):
    client = jwt_client(world.owner)
    base = f"/api/v1/orgs/{world.org.pk}/domains"
    response = client.post(base, {"domain": "ACME.example"}, format="json")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "domain_taken"
    bad = client.post(base, {"domain": "not a domain"}, format="json")
    assert bad.json()["errors"][0]["code"] == "invalid_domain"
    # An organization admin with a verified email at the domain verifies it at once.
    EmailAddress.objects.create(user=world.admin, email="ann@acme.org", verified=True)
    made = jwt_client(world.admin).post(
        base, {"domain": "acme.org", "join_mode": "suggest"}, format="json"
    )
    assert made.status_code == 201 and made.json()["verified"] is True
