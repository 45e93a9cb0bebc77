"""A weak password is refused with every validator's reason at every door that sets one:
POST /auth/register and /users/me/password list each code (see test_auth_api and
test_users_api_account); the sign-up, password change and reset pages show each message."""

import pytest
from django.test import Client

from accounts.models import User
from tests.accounts.test_auth_helpers import reset_password_by_email
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

WEAK = "12345678"
MESSAGES = (
    "This password is too short.",
    "This password is too common.",
    "This password is entirely numeric.",
)


def _shows_every_reason(response) -> None:
    assert response.status_code == 200
    page = response.content.decode()
    for message in MESSAGES:
        assert message in page, message


def test_signup_page_shows_every_validator_message(db):
    response = Client().post(
        "/accounts/signup/", {"email": "weak@example.com", "password1": WEAK, "password2": WEAK}
    )
    _shows_every_reason(response)
    assert not User.objects.filter(email="weak@example.com").exists()


def test_password_change_page_shows_every_validator_message(member):
    browser = Client()
    browser.force_login(member)
    response = browser.post(
        "/accounts/password/change/",
        {"oldpassword": DEFAULT_PASSWORD, "password1": WEAK, "password2": WEAK},
    )
    _shows_every_reason(response)
    member.refresh_from_db()
    assert member.check_password(DEFAULT_PASSWORD)


def test_password_reset_page_shows_every_validator_message(member):
    _shows_every_reason(reset_password_by_email(Client(), member.email, WEAK))
    member.refresh_from_db()
    assert member.check_password(DEFAULT_PASSWORD)
