"""The work an API sign-up does besides its one password hash (bench/auth_profile.py lists
it): the address checked through indexes, the fields validated once, the default role in a
few statements, no session written for an API caller, and an answer that does not read
again what the sign-up has just written. Behaviour stays the page's: the stashed verified
address, the lost race (409), the staff flag of the default role."""

from __future__ import annotations

from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.flows import signup
from accounts.models import User
from accounts.roles import assign_default_role
from tests.accounts.test_auth_helpers import error_code

REGISTER_URL = "/api/v1/auth/register"
PASSWORD = "a long enough passphrase"


def _register(client: APIClient | None = None, **body):
    body = {"email": "new@example.com", "password": PASSWORD, **body}
    return (client or APIClient()).post(REGISTER_URL, body, format="json")


def _statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


def test_sign_up_writes_no_session_and_sends_no_cookie(db):
    response = _register()
    assert response.status_code == 201, response.content
    assert "sessionid" not in response.cookies
    assert not Session.objects.exists()


def test_sign_up_keeps_a_callers_session_as_it_was(db):
    client = APIClient()
    session = client.session
    session["kept"] = "yes"
    session.save()
    before = Session.objects.get(pk=session.session_key).session_data
    assert _register(client).status_code == 201
    stored = Session.objects.get(pk=session.session_key)
    assert stored.session_data == before
    assert stored.get_decoded() == {"kept": "yes"}


def test_sign_up_honours_and_spends_a_stashed_verified_address(db):
    client = APIClient()
    session = client.session
    session["account_verified_email"] = "new@example.com"
    session.save()
    response = _register(client)
    assert response.status_code == 201, response.content
    assert response.json()["email_verified"] is True
    user = User.objects.get(email="new@example.com")
    assert EmailAddress.objects.get(user=user).verified
    assert Session.objects.get(pk=session.session_key).get_decoded() == {
        "account_verified_email": None
    }


def test_sign_up_statements(db):
    """What one sign-up asks the database: the address and the username checked through
    the indexes (no UPPER or LIKE, which no index serves on PostgreSQL), no uniqueness asked
    twice, the default role without a savepoint, no session, and the answer's flags not read
    back (the address's verification, the second factors)."""
    with CaptureQueriesContext(connection) as queries:
        response = _register(username="newbie")
    assert response.status_code == 201, response.content
    sql = _statements(queries)
    on_users = [s for s in sql if s.startswith("SELECT") and 'FROM "accounts_user"' in s]
    # Whether the username and the address are taken, by the LOWER(...) unique indexes.
    assert len(on_users) == 2, on_users
    assert any('LOWER("accounts_user"."email")' in s for s in on_users)
    assert any('LOWER("accounts_user"."username")' in s for s in on_users)
    assert not [s for s in sql if "UPPER(" in s or " LIKE " in s]
    assert not [s for s in sql if "django_session" in s]
    assert not [s for s in sql if "mfa_authenticator" in s or "accounts_smsdevice" in s]
    on_groups = [s for s in sql if "auth_group" in s or "accounts_user_groups" in s]
    # Default role: has it one, the group, the membership's check and insert; the answer's
    # roles.
    assert len(on_groups) == 5, on_groups
    # The sign-up's transaction (a savepoint inside the test's) and the audit's own.
    assert len([s for s in sql if s.startswith("SAVEPOINT")]) == 2
    assert response.json()["roles"] == ["member"]
    assert response.json()["email_verified"] is False
    assert response.json()["mfa_enabled"] is False


def test_sign_up_mails_the_confirmation_once_without_reading_the_account_again(db):
    with CaptureQueriesContext(connection) as queries:
        response = _register()
    assert response.status_code == 201
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@example.com"]
    user_id = response.json()["id"].replace("-", "")
    reads = [
        s
        for s in _statements(queries)
        if s.startswith("SELECT") and 'FROM "accounts_user" WHERE' in s and user_id in s
    ]
    assert not reads, reads


def test_address_of_another_account_is_taken_whatever_its_case(member):
    EmailAddress.objects.create(user=member, email="second@example.com", primary=False)
    response = _register(email="Second@Example.COM")
    assert response.status_code == 409
    assert error_code(response) == "email_taken"


def test_a_lost_race_for_the_address_is_409_not_500(member):
    # Both checks passed, then a concurrent sign-up took the address: the database says so.
    with mock.patch.object(signup, "_email_taken", return_value=False):
        response = _register(email="MEMBER@example.com")
    assert response.status_code == 409
    assert error_code(response) == "email_taken"
    assert User.objects.filter(email="member@example.com").count() == 1


def test_a_lost_race_for_the_username_is_409_not_500(user_factory):
    user_factory(email="taken@example.com", username="Taken")
    with mock.patch.object(signup, "_username_taken", return_value=False):
        response = _register(username="taken")
    assert response.status_code == 409
    assert error_code(response) == "username_taken"


def test_create_user_still_refuses_a_taken_address_itself(member):
    with pytest.raises(ValidationError) as exc:
        User.objects.create_user(email="Member@Example.com", password=PASSWORD)
    assert "email" in exc.value.error_dict


@pytest.mark.parametrize(
    ("extra", "staff"),
    [({}, False), ({"is_staff": True}, False), ({"is_superuser": True}, True)],
)
def test_default_role_gives_member_and_staff_only_to_a_superuser(db, extra, staff):
    user = User.objects.create_user(email="x@example.com", password=PASSWORD, **extra)
    user.refresh_from_db()
    assert user.roles == ["member"] and user.is_staff is staff


def test_default_role_leaves_a_user_with_a_role_alone(db):
    user = User.objects.create_user(email="x@example.com", password=PASSWORD)
    user.groups.set([Group.objects.get(name="manager")])
    assign_default_role(user)
    assert User.objects.get(pk=user.pk).roles == ["manager"]


def test_superuser_is_an_admin_and_staff(db):
    user = User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    user.refresh_from_db()
    assert user.roles == ["admin"] and user.is_staff and user.is_superuser
