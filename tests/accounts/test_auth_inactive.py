"""A suspended or deactivated account answers a sign-in exactly as a wrong password does,
on the sign-in page (which the admin's login also leads to) and at POST /auth/token: the
right password is never confirmed, the attempt counts towards the lockout and is audited."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services.users import user_set_status
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import TOKEN_URL
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN_PAGE = "/accounts/login/"
WRONG = "not the password at all"


@pytest.fixture(params=["suspended", "deactivated"])
def inactive(request, user_factory, admin_user):
    user = user_factory(email="gone@example.com")
    return user_set_status(user=user, status=request.param, actor=admin_user)


def _page_answer(email: str, password: str) -> tuple:
    client = Client()
    response = client.post(LOGIN_PAGE, {"login": email, "password": password})
    errors = response.context["form"].errors if response.context else None
    return (
        (response.status_code, response.get("Location"), errors),
        "_auth_user_id" in client.session,
    )


def test_page_answers_an_inactive_account_as_a_wrong_password(inactive):
    right, right_signed_in = _page_answer(inactive.email, DEFAULT_PASSWORD)
    wrong, wrong_signed_in = _page_answer(inactive.email, WRONG)

    assert right == wrong
    status, location, errors = right
    assert status == 200 and location is None
    assert "not correct" in str(errors["__all__"])
    assert not right_signed_in and not wrong_signed_in


def test_page_never_leads_an_inactive_account_to_the_inactive_page(inactive):
    response = Client().post(
        LOGIN_PAGE, {"login": inactive.email, "password": DEFAULT_PASSWORD}, follow=True
    )
    assert all("/accounts/inactive/" not in url for url, _ in response.redirect_chain)
    assert b"This account is inactive" not in response.content


def test_page_right_password_of_an_inactive_account_is_audited_as_a_failure(inactive):
    _page_answer(inactive.email, DEFAULT_PASSWORD)
    failed = AuditEvent.objects.filter(action="auth.login.failed")
    assert failed.count() == 1
    event = failed.get()
    assert event.target_id == str(inactive.pk) and event.metadata["door"] == "page"
    assert not AuditEvent.objects.filter(action="auth.login.succeeded").exists()


def test_page_right_password_of_an_inactive_account_counts_towards_the_lockout(inactive):
    for _ in range(5):
        _page_answer(inactive.email, DEFAULT_PASSWORD)
    (status, _, errors), _ = _page_answer(inactive.email, DEFAULT_PASSWORD)
    assert status == 200 and "Too many failed login attempts" in str(errors)
    # The lockout holds at the API door too, as for wrong passwords.
    response = APIClient().post(
        TOKEN_URL, {"email": inactive.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 429


def test_api_answers_an_inactive_account_as_a_wrong_password(inactive):
    answers = [
        APIClient().post(TOKEN_URL, {"email": inactive.email, "password": pw}, format="json")
        for pw in (DEFAULT_PASSWORD, WRONG)
    ]
    assert [r.status_code for r in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["errors"][0]["code"] == "invalid_credentials"
