"""The password policy's expiry_days: counted from when the password was set (its password
history row), else from the later of the account's creation and the policy's change; the API
answers password_change_required and POST /auth/token/password replaces the password
(validators and history, single-use token); the pages ask for a new one in a login stage."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from access.policies import selectors, services
from access.policies.models import PasswordHistory
from access.policies.types import PASSWORD
from audit.models import AuditEvent
from tests.access.conftest import assert_error, jwt_client
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.mfa import totp_activate

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token"
CHANGE = "/api/v1/auth/token/password"
POLICY = {
    "min_length": 10,
    "require_uppercase": False,
    "require_lowercase": False,
    "require_numbers": False,
    "require_special": False,
    "history": 2,
    "expiry_days": 30,
}
NEW = "a brand new pass phrase"


def _set(org=None, **changes):
    services.policy_set(
        organization=org, policy_type=PASSWORD, values={**POLICY, **changes}, actor=None
    )


def _token(user, password=DEFAULT_PASSWORD):
    return APIClient().post(TOKEN, {"email": user.email, "password": password}, format="json")


def _later(days):
    return time_machine.travel(timedelta(days=days, minutes=1))


def test_a_password_set_records_when(world):
    world.member.set_password("first pass phrase")
    world.member.save()
    assert PasswordHistory.objects.filter(user=world.member).count() == 1  # with no history
    assert selectors.password_set_at(world.member) is not None


def test_the_api_change_door_records_when(world):
    _set()
    with _later(20):
        response = jwt_client(world.member).post(
            "/api/v1/users/me/password",
            {"current_password": DEFAULT_PASSWORD, "new_password": NEW},
            format="json",
        )
        assert response.status_code == 204
    with _later(45):  # 25 days after the change
        assert "access" in _token(world.member, NEW).json()
    with _later(51):
        assert _token(world.member, NEW).json()["password_change_required"] is True


def test_api_answers_password_change_required_then_tokens(world):
    _set()
    assert "access" in _token(world.member).json()
    with _later(30):
        body = _token(world.member).json()
        assert body["password_change_required"] is True and "access" not in body
        ticket = body["password_change_token"]
        # The old password again is refused (history), the ticket stays usable.
        response = APIClient().post(
            CHANGE,
            {"password_change_token": ticket, "new_password": DEFAULT_PASSWORD},
            format="json",
        )
        assert_error(response, 400, "password_reused", "new_password")
        response = APIClient().post(
            CHANGE, {"password_change_token": ticket, "new_password": "short"}, format="json"
        )
        assert_error(response, 400, "password_too_short", "new_password")
        response = APIClient().post(
            CHANGE, {"password_change_token": ticket, "new_password": NEW}, format="json"
        )
        assert response.status_code == 200, response.content
        assert {"access", "refresh", "session_id"} <= response.json().keys()
        # Single-use.
        again = APIClient().post(
            CHANGE, {"password_change_token": ticket, "new_password": NEW + "!"}, format="json"
        )
        assert_error(again, 401, "invalid_password_change_token")
        assert AuditEvent.objects.filter(
            action="auth.password.changed", metadata__reason="password_expired"
        ).exists()
        assert "access" in _token(world.member, NEW).json()


def test_bad_bodies(world):
    response = APIClient().post(
        CHANGE, {"password_change_token": "x" * 40, "new_password": NEW}, format="json"
    )
    assert_error(response, 401, "invalid_password_change_token")
    assert APIClient().post(CHANGE, {"new_password": NEW}, format="json").status_code == 400
    response = APIClient().post(
        CHANGE, {"password_change_token": "x", "new_password": NEW, "extra": 1}, format="json"
    )
    assert response.status_code == 400


def test_after_the_second_factor(world):
    _set()
    totp = totp_activate(world.member)
    with _later(31):
        body = _token(world.member).json()
        assert body["mfa_required"] is True
        response = APIClient().post(
            "/api/v1/auth/token/mfa",
            {"mfa_token": body["mfa_token"], "code": totp.now()},
            format="json",
        )
        assert response.json()["password_change_required"] is True


def test_old_passwords_count_from_the_policy_change(world):
    PasswordHistory.objects.filter(user=world.member).delete()  # set before records were kept
    with _later(100):
        _set()
        assert "access" in _token(world.member).json()
    with _later(131):
        assert _token(world.member).json()["password_change_required"] is True


def test_an_organizations_shorter_expiry_applies_to_its_members(world):
    _set()
    _set(world.org, expiry_days=7)
    with _later(7):
        assert _token(world.member).json().get("password_change_required") is True
        assert "access" in _token(world.outsider).json()


def test_zero_is_never_and_looser_than_any(world):
    _set(expiry_days=0)
    with _later(3000):
        assert "access" in _token(world.member).json()
    _set(expiry_days=90)
    response = jwt_client(world.owner).put(
        f"/api/v1/orgs/{world.org.pk}/policies/password",
        {**POLICY, "expiry_days": 0},
        format="json",
    )
    assert_error(response, 400, "weaker_than_platform", "expiry_days")


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"expiry_days": -1}, "min_value"),
        ({"expiry_days": 3651}, "max_value"),
        ({"expiry_days": "30"}, "invalid"),
    ],
)
def test_bad_expiry_values(changes, code):
    root = UserFactory(roles=["admin"])
    response = jwt_client(root).put(
        "/api/v1/admin/security/policies/password", {**POLICY, **changes}, format="json"
    )
    assert_error(response, 400, code, "expiry_days")


def test_pages_ask_for_a_new_password_right_after_sign_in(world):
    _set()
    with _later(30):
        browser = Client()
        response = browser.post(
            "/accounts/login/", {"login": world.member.email, "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 302 and response["Location"] == "/account/password-expired/"
        # Not signed in yet.
        assert browser.get("/account/").status_code == 302
        page = browser.get("/account/password-expired/")
        assert page.status_code == 200
        response = browser.post(
            "/account/password-expired/",
            {"password1": DEFAULT_PASSWORD, "password2": DEFAULT_PASSWORD},
        )
        assert response.status_code == 200
        assert "one of your last" in response.content.decode()
        response = browser.post("/account/password-expired/", {"password1": NEW, "password2": NEW})
        assert response.status_code == 302
        assert browser.get("/account/").status_code == 200
    world.member.refresh_from_db()
    assert world.member.check_password(NEW)


def test_the_expired_page_without_a_sign_in_goes_to_the_sign_in():
    response = Client().get("/account/password-expired/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
