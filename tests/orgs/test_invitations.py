"""Invitations end to end: the email and its single-use link, resend, expiry, bulk all or
nothing, and accepting only with a verified matching email."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from orgs.models import Invitation, Membership, TeamMembership
from orgs.services import invitations
from tests.factories import UserFactory
from tests.orgs.conftest import assert_error, jwt_client, verified

pytestmark = pytest.mark.django_db


def _invite(world, client, email="new@example.com", **extra):
    return client.post(
        f"/api/v1/orgs/{world.org.pk}/invitations", {"email": email, **extra}, format="json"
    )


def _token_of(message) -> str:
    return re.search(r"token=([A-Za-z0-9_\-]+)", message.body).group(1)


def test_invitation_mails_a_single_use_link(world, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(
            world, jwt_client(world.owner), roles=["member"], teams=[str(world.core.pk)]
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["teams"] == [str(world.core.pk)]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new@example.com"] and "Acme" in message.subject
    assert f"/invitations/{body['id']}/?token=" in message.body
    invitation = Invitation.objects.get(pk=body["id"])
    assert _token_of(message) not in invitation.token_digest  # only the digest is stored
    assert AuditEvent.objects.filter(action="org.invitation.created", target_id=body["id"]).exists()


def test_accept_joins_with_roles_and_teams_and_the_link_dies(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = _invite(world, jwt_client(world.owner), teams=[str(world.core.pk)]).json()
    token = _token_of(mail.outbox[-1])
    newcomer = verified(UserFactory(email="New@Example.com"))
    client = jwt_client(newcomer)
    assert client.get("/api/v1/users/me/invitations").json()[0]["id"] == body["id"]
    response = client.post(
        f"/api/v1/invitations/{body['id']}/accept", {"token": token}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == ["member"]
    assert Membership.objects.filter(organization=world.org, user=newcomer).exists()
    assert TeamMembership.objects.filter(team=world.core, user=newcomer).exists()
    # Reusing the link, or accepting again: nothing more happens.
    again = client.post(f"/api/v1/invitations/{body['id']}/accept", {"token": token}, format="json")
    assert again.status_code == 404
    assert_error(
        client.post(f"/api/v1/invitations/{body['id']}/accept"), 409, "invitation_not_pending"
    )
    assert client.get("/api/v1/users/me/invitations").json() == []


def test_accept_needs_a_verified_matching_email(world):
    invitation, _ = invitations.invitation_create(
        organization=world.org, actor=world.owner, email="someone@example.com"
    )
    unverified = UserFactory(email="someone@example.com")
    path = f"/api/v1/invitations/{invitation.pk}/accept"
    assert_error(jwt_client(unverified).post(path), 404, "not_found")
    assert_error(jwt_client(world.outsider).post(path), 404, "not_found")
    # A second, verified address of another account that matches does count.
    verified(world.outsider, "someone@example.com")
    assert jwt_client(world.outsider).post(path).status_code == 200
    assert not Membership.objects.filter(organization=world.org, user=unverified).exists()


def test_resend_kills_the_old_link_and_restarts_expiry(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = _invite(world, jwt_client(world.owner), expires_in_days=3).json()
    old_token = _token_of(mail.outbox[-1])
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        with django_capture_on_commit_callbacks(execute=True):
            resent = jwt_client(world.admin).post(
                f"/api/v1/orgs/{world.org.pk}/invitations/{body['id']}/resend"
            )
        assert resent.status_code == 200
        new_token = _token_of(mail.outbox[-1])
        assert new_token != old_token
        assert resent.json()["expires_at"] > body["expires_at"]
        # The same span as first given, from the resend.
        invitation = Invitation.objects.get(pk=body["id"])
        assert invitation.expires_at - timezone.now() > timedelta(days=3) - timedelta(minutes=1)
        assert invitation.expires_at - timezone.now() <= timedelta(days=3)
        invitee = verified(UserFactory(email="new@example.com"))
        client = jwt_client(invitee)
        path = f"/api/v1/invitations/{body['id']}/accept"
        assert client.post(path, {"token": old_token}, format="json").status_code == 404
        assert client.post(path, {"token": new_token}, format="json").status_code == 200


def test_expired_invitation_is_409_and_frees_its_seat(world):
    invitation, _ = invitations.invitation_create(
        organization=world.org, actor=world.owner, email="late@example.com", expires_in_days=1
    )
    invitee = verified(UserFactory(email="late@example.com"))
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        client = jwt_client(invitee)
        assert_error(
            client.post(f"/api/v1/invitations/{invitation.pk}/accept"), 409, "invitation_expired"
        )
        listed = jwt_client(world.owner).get(
            f"/api/v1/orgs/{world.org.pk}/invitations", {"status": "expired"}
        )
        assert [i["id"] for i in listed.json()["results"]] == [str(invitation.pk)]
        # The address can be invited again.
        again = _invite(world, jwt_client(world.owner), email="late@example.com")
        assert again.status_code == 201
    assert not Membership.objects.filter(organization=world.org, user=invitee).exists()


def test_decline(world):
    invitation, _ = invitations.invitation_create(
        organization=world.org, actor=world.owner, email="no@example.com"
    )
    client = jwt_client(verified(UserFactory(email="no@example.com")))
    response = client.post(f"/api/v1/invitations/{invitation.pk}/decline")
    assert response.status_code == 200 and response.json()["status"] == "declined"
    assert_error(
        client.post(f"/api/v1/invitations/{invitation.pk}/accept"), 409, "invitation_not_pending"
    )


@pytest.mark.parametrize(
    ("payload", "status", "code", "attr"),
    [
        ({"email": "not-an-email"}, 400, "invalid_email", "email"),
        ({"email": "member@example.com"}, 409, "already_member", "email"),
        ({"email": "MEMBER@example.com"}, 409, "already_member", "email"),
        ({"email": "pending@example.com"}, 409, "invitation_pending", "email"),
        ({"email": "x@example.com", "roles": ["wizard"]}, 400, "unknown_role", "roles"),
        (
            {"email": "x@example.com", "teams": ["7d1d0fa1-93b5-4c39-a9a4-4b3b7f0f0d1e"]},
            400,
            "unknown_team",
            "teams",
        ),
        ({"email": "x@example.com", "expires_in_days": 31}, 400, "max_value", "expires_in_days"),
        ({"email": "x@example.com", "extra": 1}, 400, "unknown_field", "extra"),
    ],
)
def test_invitation_bad_input(world, payload, status, code, attr):
    before = Invitation.objects.count()
    response = jwt_client(world.owner).post(
        f"/api/v1/orgs/{world.org.pk}/invitations", payload, format="json"
    )
    assert_error(response, status, code, attr)
    assert Invitation.objects.count() == before


def test_nobody_invites_into_a_role_they_do_not_hold(world):
    response = _invite(world, jwt_client(world.admin), roles=["owner"])
    assert_error(response, 403, "cannot_grant")
    assert not Invitation.objects.filter(email="new@example.com").exists()


def test_bulk_is_all_or_nothing(world, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    before = Invitation.objects.count()
    items = [
        {"email": "a@example.com"},
        {"email": "bad"},
        {"email": "c@example.com", "roles": ["nope"]},
    ]
    response = jwt_client(world.owner).post(
        f"/api/v1/orgs/{world.org.pk}/invitations/bulk", {"invitations": items}, format="json"
    )
    body = assert_error(response, 400, "invalid_email", "invitations.1.email")
    assert ("unknown_role", "invitations.2.roles") in [
        (e["code"], e["attr"]) for e in body["errors"]
    ]
    items = [
        {"email": "a@example.com"},
        {"email": "member@example.com"},
        {"email": "A@example.com"},
    ]
    response = jwt_client(world.owner).post(
        f"/api/v1/orgs/{world.org.pk}/invitations/bulk", {"invitations": items}, format="json"
    )
    body = assert_error(response, 409, "already_member", "invitations.1.email")
    assert ("duplicate", "invitations.2.email") in [(e["code"], e["attr"]) for e in body["errors"]]
    assert Invitation.objects.count() == before and mail.outbox == []


def test_bulk_seat_overflow_writes_nothing(world, django_capture_on_commit_callbacks):
    world.org.seat_limit = 10  # 6 members + 1 pending invitation: 3 seats free
    world.org.save(update_fields=["seat_limit"])
    mail.outbox.clear()
    client = jwt_client(world.owner)
    events = AuditEvent.objects.count()
    items = [{"email": f"n{i}@example.com"} for i in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/orgs/{world.org.pk}/invitations/bulk", {"invitations": items}, format="json"
        )
    assert_error(response, 409, "seat_limit_reached")
    assert not Invitation.objects.filter(email__startswith="n").exists()
    assert AuditEvent.objects.count() == events and mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        response = jwt_client(world.owner).post(
            f"/api/v1/orgs/{world.org.pk}/invitations/bulk",
            {"invitations": items[:3]},
            format="json",
        )
    assert response.status_code == 201 and response.json()["count"] == 3
    assert len(mail.outbox) == 3
    assert_error(
        _invite(world, jwt_client(world.owner), email="one-more@example.com"),
        409,
        "seat_limit_reached",
    )


def test_cancel_frees_the_seat_and_kills_the_link(world):
    client = jwt_client(world.owner)
    path = f"/api/v1/orgs/{world.org.pk}/invitations/{world.pending.pk}"
    assert client.delete(path).status_code == 204
    assert_error(client.delete(path), 409, "invitation_not_pending")
    world.pending.refresh_from_db()
    assert world.pending.status == "canceled" and world.pending.token_digest == ""
    invitee = verified(UserFactory(email="pending@example.com"))
    assert_error(
        jwt_client(invitee).post(f"/api/v1/invitations/{world.pending.pk}/accept"),
        409,
        "invitation_not_pending",
    )
