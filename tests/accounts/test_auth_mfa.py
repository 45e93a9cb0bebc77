"""MFA through the API: a password alone never yields tokens; codes are checked by
allauth's own form, so recovery codes and limits behave exactly as on the pages."""

import time

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.models import ApiSession
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import TOKEN_URL, error_code
from tests.factories import DEFAULT_PASSWORD
from tests.mfa import recovery_codes_activate, totp_activate, unused_recovery_codes

pytestmark = pytest.mark.django_db

MFA_URL = "/api/v1/auth/token/mfa"


@pytest.fixture
def mfa_user(member):
    member.totp = totp_activate(member)
    member.recovery_codes = recovery_codes_activate(member)
    return member


def _password_step(user, **extra) -> dict:
    response = APIClient().post(
        TOKEN_URL, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json", **extra
    )
    assert response.status_code == 200, response.content
    return response.json()


def _mfa(mfa_token: str, code: str):
    return APIClient().post(MFA_URL, {"mfa_token": mfa_token, "code": code}, format="json")


def test_password_alone_gives_no_tokens(mfa_user):
    body = _password_step(mfa_user)
    assert body["mfa_required"] is True
    assert body["methods"] == ["totp", "recovery_codes"]
    assert "access" not in body and "refresh" not in body
    assert not ApiSession.objects.exists()
    assert not AuditEvent.objects.filter(action="auth.login.succeeded").exists()


def test_totp_code_completes_the_login(mfa_user):
    ticket = _password_step(mfa_user)["mfa_token"]
    response = _mfa(ticket, mfa_user.totp.now())
    assert response.status_code == 200
    assert set(response.json()) >= {"access", "refresh", "session_id"}
    event = AuditEvent.objects.get(action="auth.login.succeeded")
    assert event.metadata["method"] == "password+totp"
    assert ticket not in str(event.metadata)


def test_mfa_token_is_single_use(mfa_user):
    ticket = _password_step(mfa_user)["mfa_token"]
    assert _mfa(ticket, mfa_user.totp.now()).status_code == 200
    response = _mfa(ticket, mfa_user.recovery_codes[0])
    assert response.status_code == 401 and error_code(response) == "invalid_mfa_token"


def test_totp_code_cannot_be_replayed(mfa_user):
    code = mfa_user.totp.now()
    assert _mfa(_password_step(mfa_user)["mfa_token"], code).status_code == 200
    response = _mfa(_password_step(mfa_user)["mfa_token"], code)
    assert response.status_code == 401 and error_code(response) == "invalid_code"


def test_wrong_code_keeps_the_ticket_for_another_try(mfa_user):
    ticket = _password_step(mfa_user)["mfa_token"]
    response = _mfa(ticket, "000000")
    assert response.status_code == 401 and error_code(response) == "invalid_code"
    assert _mfa(ticket, mfa_user.totp.now()).status_code == 200
    assert AuditEvent.objects.filter(action="auth.mfa.failed").count() == 1


def test_recovery_code_works_once(mfa_user):
    code = mfa_user.recovery_codes[0]
    response = _mfa(_password_step(mfa_user)["mfa_token"], code)
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="auth.mfa.recovery_code.used").count() == 1
    assert code not in unused_recovery_codes(mfa_user)
    again = _mfa(_password_step(mfa_user)["mfa_token"], code)
    assert again.status_code == 401 and error_code(again) == "invalid_code"


def test_failed_codes_count_towards_the_limit(mfa_user):
    ticket = _password_step(mfa_user)["mfa_token"]
    for _ in range(4):
        assert error_code(_mfa(ticket, "000000")) == "invalid_code"
    # A new ticket does not reset the count: it is kept per user, as on the pages.
    ticket = _password_step(mfa_user)["mfa_token"]
    assert error_code(_mfa(ticket, "111111")) == "invalid_code"
    response = _mfa(ticket, mfa_user.totp.now())
    assert response.status_code == 429 and error_code(response) == "too_many_attempts"
    assert int(response["Retry-After"]) >= 1
    assert not ApiSession.objects.exists()


def test_ticket_dies_after_five_wrong_codes(mfa_user, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "100/m/ip"}
    ticket = _password_step(mfa_user)["mfa_token"]
    for _ in range(5):
        _mfa(ticket, "000000")
    response = _mfa(ticket, mfa_user.totp.now())
    assert response.status_code == 401 and error_code(response) == "invalid_mfa_token"


def test_mfa_token_expires(mfa_user):
    ticket = _password_step(mfa_user)["mfa_token"]
    with time_machine.travel(time.time() + 301, tick=False):
        response = _mfa(ticket, mfa_user.totp.now())
    assert response.status_code == 401 and error_code(response) == "invalid_mfa_token"


def test_forged_mfa_token_is_refused(mfa_user):
    response = _mfa("made-up-token", mfa_user.totp.now())
    assert response.status_code == 401 and error_code(response) == "invalid_mfa_token"


def test_user_suspended_between_the_steps_gets_nothing(mfa_user):
    ticket = _password_step(mfa_user)["mfa_token"]
    type(mfa_user).objects.filter(pk=mfa_user.pk).update(status="suspended", is_active=False)
    response = _mfa(ticket, mfa_user.totp.now())
    assert response.status_code == 401 and error_code(response) == "invalid_credentials"


def test_recovery_codes_alone_do_not_require_mfa(member):
    """As on the pages: recovery codes are a backup, not a second factor of their own."""
    recovery_codes_activate(member)
    assert "access" in _password_step(member)


def test_webauthn_only_user_without_codes_cannot_get_tokens(member):
    from allauth.mfa.models import Authenticator

    Authenticator.objects.create(user=member, type="webauthn", data={"name": "key"})
    response = APIClient().post(
        TOKEN_URL, {"email": member.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 403 and error_code(response) == "mfa_method_unavailable"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"mfa_token": "x"},
        {"code": "123456"},
        {"mfa_token": "x" * 500, "code": "1"},
        {"mfa_token": "x", "code": "1" * 100},
        {"mfa_token": ["x"], "code": "1"},
        {"mfa_token": "x", "code": "1", "other": True},
    ],
)
def test_mfa_bad_input_is_400(db, body):
    response = APIClient().post(MFA_URL, body, format="json")
    assert response.status_code == 400


def test_page_mfa_failures_and_api_failures_share_the_counter(mfa_user):
    """allauth's MFA page counts under the same key the API uses."""
    from django.test import Client

    for _ in range(3):
        _mfa(_password_step(mfa_user)["mfa_token"], "000000")
    page = Client()
    page.post("/accounts/login/", {"login": mfa_user.email, "password": DEFAULT_PASSWORD})
    for _ in range(2):
        page.post("/accounts/2fa/authenticate/", {"code": "000000"})
    response = _mfa(_password_step(mfa_user)["mfa_token"], mfa_user.totp.now())
    assert response.status_code == 429
