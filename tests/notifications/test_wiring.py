"""The services that cause notifications send them: accounts' security notices and the
organizations' membership, team and invitation notices."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from rest_framework.test import APIClient

from accounts.admin_services import user_mfa_reset
from notifications.kinds import Kind
from notifications.models import Notification
from orgs.services import invitations, members, teams
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa import totp_activate
from tests.notifications.conftest import jwt_client

TOKEN = "/api/v1/auth/token"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


def kinds_of(user) -> list[str]:
    return list(
        Notification.objects.filter(user=user).order_by("created_at").values_list("kind", flat=True)
    )


@pytest.fixture
def alice(db):
    user = UserFactory(email="alice@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def token_sign_in(user, agent: str):
    response = APIClient().post(
        TOKEN,
        {"email": user.email, "password": DEFAULT_PASSWORD},
        format="json",
        HTTP_USER_AGENT=agent,
    )
    assert response.status_code == 200, response.content[:500]


def page_sign_in(user, agent: str):
    browser = Client(HTTP_USER_AGENT=agent)
    response = browser.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.content[:500]


def test_password_change_through_the_api_notifies(alice):
    response = jwt_client(alice).post(
        "/api/v1/users/me/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": "quiet-lantern-73-rivers"},
        format="json",
    )
    assert response.status_code in (200, 204), response.content[:500]
    note = Notification.objects.get(user=alice, kind=Kind.PASSWORD_CHANGED)
    assert note.priority == "high" and note.data == {"reason": "password_changed"}


def test_mfa_change_notifies(alice, admin_user):
    totp_activate(alice)
    user_mfa_reset(user=alice, actor=admin_user)
    assert kinds_of(alice) == [Kind.MFA_CHANGED]


def test_new_device_sign_in_notifies_once_per_device(alice):
    token_sign_in(alice, FIREFOX)  # the first sign-in: nothing to compare with
    assert kinds_of(alice) == []
    token_sign_in(alice, FIREFOX)  # a device already seen
    assert kinds_of(alice) == []
    token_sign_in(alice, PHONE)
    note = Notification.objects.get(user=alice, kind=Kind.NEW_DEVICE_SIGN_IN)
    assert note.data["door"] == "api" and note.data["user_agent"] == PHONE
    token_sign_in(alice, PHONE)
    assert kinds_of(alice) == [Kind.NEW_DEVICE_SIGN_IN]


def test_new_device_sign_in_through_the_pages(alice):
    page_sign_in(alice, FIREFOX)
    page_sign_in(alice, FIREFOX)
    assert kinds_of(alice) == []
    page_sign_in(alice, PHONE)
    note = Notification.objects.get(user=alice, kind=Kind.NEW_DEVICE_SIGN_IN)
    assert note.data["door"] == "page"
    # The same device through the other door is known already.
    token_sign_in(alice, PHONE)
    assert kinds_of(alice) == [Kind.NEW_DEVICE_SIGN_IN]


def test_membership_changes_notify_the_member_not_the_actor(world):
    newcomer = UserFactory(email="newcomer@example.com")
    members.member_add(organization=world.org, actor=world.owner, user=newcomer)
    members.member_update(
        organization=world.org, user_id=newcomer.pk, actor=world.owner, roles=["manager"]
    )
    members.member_update(
        organization=world.org, user_id=newcomer.pk, actor=world.owner, status="suspended"
    )
    members.member_remove(organization=world.org, user_id=newcomer.pk, actor=world.owner)
    changes = [
        n.data["change"] for n in Notification.objects.filter(user=newcomer).order_by("created_at")
    ]
    assert changes == ["added", "roles_changed", "suspended", "removed"]
    assert set(kinds_of(newcomer)) == {Kind.MEMBERSHIP_CHANGED}
    assert not Notification.objects.filter(user=world.owner).exists()


def test_team_membership_changes_notify(world):
    Notification.objects.all().delete()
    teams.team_member_add(team=world.other, actor=world.admin, user=world.spare2)
    teams.team_member_update(
        team=world.other, user_id=world.spare2.pk, actor=world.admin, title="Reviewer"
    )
    teams.team_member_remove(team=world.other, user_id=world.spare2.pk, actor=world.admin)
    got = Notification.objects.filter(user=world.spare2).order_by("created_at")
    assert [(n.kind, n.data["change"]) for n in got] == [
        (Kind.TEAM_MEMBERSHIP_CHANGED, "added"),
        (Kind.TEAM_MEMBERSHIP_CHANGED, "updated"),
        (Kind.TEAM_MEMBERSHIP_CHANGED, "removed"),
    ]
    assert got[0].data["team_id"] == str(world.other.pk)
    # Leaving a team oneself is not announced to oneself.
    teams.team_member_add(team=world.other, actor=world.admin, user=world.spare)
    teams.team_member_remove(team=world.other, user_id=world.spare.pk, actor=world.spare)
    assert [n.data["change"] for n in Notification.objects.filter(user=world.spare)] == ["added"]


def test_invitation_notifies_the_verified_owner_of_the_address(world):
    invitee = UserFactory(email="invitee@example.com")
    EmailAddress.objects.create(user=invitee, email=invitee.email, verified=True, primary=True)
    unverified = UserFactory(email="unverified@example.com")
    invitation, raw = invitations.invitation_create(
        organization=world.org, actor=world.owner, email="invitee@example.com"
    )
    invitations.invitation_create(
        organization=world.org, actor=world.owner, email="unverified@example.com"
    )
    note = Notification.objects.get(user=invitee)
    assert note.kind == Kind.INVITATION_RECEIVED
    assert note.data["invitation_id"] == str(invitation.pk)
    assert note.from_user == world.owner
    assert raw not in str(note.data) and raw not in note.message
    assert not Notification.objects.filter(user=unverified).exists()


def test_export_holds_and_erasure_removes_the_persons_notifications(alice):
    from accounts import hooks
    from notifications.services import notify

    bob = UserFactory(email="bob@example.com")
    mine = notify(alice, Kind.MESSAGE, "For Alice", "hello", from_user=bob)
    sent = notify(bob, Kind.MESSAGE, "From Alice", "hi", from_user=alice)
    exported = hooks.export_sections(user=alice)["notifications"]
    assert [n["id"] for n in exported] == [str(mine.pk)]
    assert exported[0]["from_user"] == str(bob.pk) and exported[0]["created_at"].endswith("Z")
    hooks.run_erasure_steps(user=alice)
    assert not Notification.objects.filter(user=alice).exists()
    sent.refresh_from_db()
    assert sent.from_user is None
