"""The page the invitation email links to: sign in or sign up, then accept or decline."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from django.test import Client

from orgs.models import Invitation, Membership
from orgs.services import invitations
from tests.factories import UserFactory
from tests.orgs.conftest import verified

pytestmark = pytest.mark.django_db


def _invite(world, email="new@example.com", **extra):
    invitation, raw = invitations.invitation_create(
        organization=world.org, actor=world.owner, email=email, **extra
    )
    return invitation, raw


def _page(invitation, token):
    return f"/invitations/{invitation.pk}/?token={token}"


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_emailed_link_is_this_page(world, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        invitation, raw = _invite(world)
    assert _page(invitation, raw) in mail.outbox[-1].body


def test_a_visitor_is_sent_to_sign_in_or_sign_up_and_back(world):
    invitation, raw = _invite(world)
    response = Client().get(_page(invitation, raw))
    assert response.status_code == 200
    assert "Acme" not in response.content.decode()  # nothing shown before sign-in
    for name in ("login_url", "signup_url"):
        target = urlparse(response.context[name])
        assert parse_qs(target.query)["next"] == [_page(invitation, raw)]


def test_the_invitee_accepts_and_joins(world):
    invitation, raw = _invite(world, roles=["member"])
    newcomer = verified(UserFactory(email="new@example.com"))
    client = _signed_in(newcomer)
    page = client.get(_page(invitation, raw))
    assert page.status_code == 200 and "Acme" in page.content.decode()
    response = client.post(_page(invitation, raw), {"decision": "accept", "token": raw})
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert Membership.objects.filter(organization=world.org, user=newcomer).exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    # The link is dead once used.
    assert client.get(_page(invitation, raw)).status_code == 404


def test_the_invitee_declines(world):
    invitation, raw = _invite(world)
    newcomer = verified(UserFactory(email="new@example.com"))
    response = _signed_in(newcomer).post(
        _page(invitation, raw), {"decision": "decline", "token": raw}
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DECLINED
    assert not Membership.objects.filter(organization=world.org, user=newcomer).exists()


@pytest.mark.parametrize("who", ["other", "unverified"])
def test_anyone_but_the_verified_invitee_gets_404(world, who):
    invitation, raw = _invite(world)
    if who == "other":
        user = world.outsider
    else:
        user = UserFactory(email="new@example.com")  # the address is not confirmed
    client = _signed_in(user)
    assert client.get(_page(invitation, raw)).status_code == 404
    response = client.post(_page(invitation, raw), {"decision": "accept", "token": raw})
    assert response.status_code == 404
    assert Invitation.objects.get(pk=invitation.pk).status == Invitation.Status.PENDING


def test_a_wrong_or_replaced_link_is_404(world, django_capture_on_commit_callbacks):
    invitation, raw = _invite(world)
    newcomer = verified(UserFactory(email="new@example.com"))
    client = _signed_in(newcomer)
    assert client.get(_page(invitation, "not-the-token")).status_code == 404
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        invitations.invitation_resend(
            organization=world.org, invitation_id=invitation.pk, actor=world.owner
        )
    new_raw = re.search(r"token=([A-Za-z0-9_\-]+)", mail.outbox[-1].body).group(1)
    assert client.get(_page(invitation, raw)).status_code == 404
    assert client.get(_page(invitation, new_raw)).status_code == 200


def test_an_unknown_decision_changes_nothing(world):
    invitation, raw = _invite(world)
    newcomer = verified(UserFactory(email="new@example.com"))
    response = _signed_in(newcomer).post(
        _page(invitation, raw), {"decision": "maybe", "token": raw}
    )
    assert response.status_code == 200 and "Choose accept or decline" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING
