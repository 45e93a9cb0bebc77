"""Organizations in the self-service data export and in the account erasure, through the real
doors (GET /users/me/export, the erasure request and the erasure that follows its grace
period), not only the hooks orgs registers with accounts."""

from __future__ import annotations

from datetime import timedelta

from accounts.services.erasure import erased_email, user_erase, user_request_erasure
from audit.models import AuditEvent
from orgs.models import Invitation, Membership, Organization, TeamMembership
from orgs.services import invitations, members, organizations
from tests.orgs.conftest import jwt_client


def test_export_lists_every_organization_with_roles_permissions_and_status(world):
    members.member_permissions_update(
        organization=world.org,
        user_id=world.member.pk,
        actor=world.owner,
        permissions_to_add=["reports:read"],
    )
    members.member_update(
        organization=world.org, user_id=world.member.pk, actor=world.owner, status="suspended"
    )
    doc = jwt_client(world.member).get("/api/v1/users/me/export").json()
    (row,) = doc["organizations"]
    assert row["organization"] == {"id": str(world.org.pk), "slug": "acme"}
    assert (row["roles"], row["permissions"], row["status"]) == (
        ["member"],
        ["reports:read"],
        "suspended",
    )
    # Someone in no organization gets the section, empty.
    assert jwt_client(world.outsider).get("/api/v1/users/me/export").json()["organizations"] == []


def test_account_erasure_ends_memberships_and_team_rows_and_keeps_the_organization(world):
    person = world.member
    assert TeamMembership.objects.filter(user=person).exists()
    user_request_erasure(user=person, actor=person)
    person.refresh_from_db()
    assert user_erase(user_id=person.pk, now=person.erasure_due_at + timedelta(seconds=1))

    assert not Membership.objects.filter(user=person).exists()
    assert not TeamMembership.objects.filter(user=person).exists()
    removed = AuditEvent.objects.get(action="org.member.removed", target_id=str(person.pk))
    assert removed.actor_type == "system" and removed.metadata["reason"] == "erasure"
    # The organization and everyone else stay.
    assert Organization.objects.get(pk=world.org.pk).status == "active"
    assert Membership.objects.filter(organization=world.org).count() == 5
    assert TeamMembership.objects.filter(team=world.core, user=world.spare).exists()


def test_erasing_an_organizations_last_owner_leaves_it_to_a_platform_admin(world):
    owner = world.owner
    user_request_erasure(user=owner, actor=owner)
    owner.refresh_from_db()
    assert user_erase(user_id=owner.pk, now=owner.erasure_due_at + timedelta(seconds=1))
    assert not Membership.objects.filter(user=owner).exists()
    # Never refused: the other members keep the organization until an admin hands it over.
    assert Membership.objects.filter(organization=world.org).count() == 5


def test_account_erasure_cancels_and_unaddresses_the_persons_invitations(world):
    person = world.member
    other = organizations.org_create(name="Other", slug="other", actor=world.owner)
    pending, _ = invitations.invitation_create(
        organization=other, actor=world.owner, email="Member@Example.com"
    )
    user_request_erasure(user=person, actor=person)
    person.refresh_from_db()
    assert user_erase(user_id=person.pk, now=person.erasure_due_at + timedelta(seconds=1))

    pending.refresh_from_db()
    assert (pending.status, pending.token_digest) == ("canceled", "")
    assert pending.email == erased_email(person.pk)
    event = AuditEvent.objects.get(action="org.invitation.canceled", target_id=str(person.pk))
    assert event.actor_type == "system"
    assert event.metadata == {
        "organization": str(other.pk),
        "invitation": str(pending.pk),
        "reason": "erasure",
    }
    # An invitation to someone else is left as it was.
    world.pending.refresh_from_db()
    assert (world.pending.status, world.pending.email) == ("pending", "pending@example.com")
    assert not Invitation.objects.filter(email__iexact="member@example.com").exists()
