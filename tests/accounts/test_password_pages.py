"""A new password set on the pages ends the user's other sessions, API sessions included."""

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import ApiSession
from tests.accounts.test_auth_helpers import reset_password_by_email
from tests.accounts.users_helpers import jwt_client

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "quiet-lantern-73-rivers"
ME = "/api/v1/users/me"


@pytest.fixture
def verified(user_factory):
    user = user_factory(email="pages@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _signed_in_browser(user) -> Client:
    browser = Client()
    response = browser.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return browser


@pytest.mark.django_db
def test_page_password_change_revokes_api_sessions_and_other_browsers(verified):
    api = jwt_client(verified)
    other_browser = _signed_in_browser(verified)
    browser = _signed_in_browser(verified)
    assert api.get(ME).status_code == 200

    response = browser.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    revoked = api.get(ME)
    assert revoked.status_code == 401
    assert revoked.json()["errors"][0]["code"] == "token_revoked"
    assert ApiSession.objects.get(pk=api.session_id).revoked_at is not None
    assert other_browser.get(ME).status_code == 401
    # The browser that changed the password stays signed in.
    assert browser.get(ME).status_code == 200


@pytest.mark.django_db
def test_page_password_reset_revokes_every_session(verified):
    api = jwt_client(verified)
    browser = _signed_in_browser(verified)
    response = reset_password_by_email(Client(), verified.email, NEW_PASSWORD)

    assert response.status_code == 302
    assert api.get(ME).status_code == 401
    assert browser.get(ME).status_code == 401
