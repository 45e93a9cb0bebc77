"""SMS codes through the API's MFA step: ``methods`` lists ``sms``, ``POST
/auth/token/mfa/sms`` texts a code without spending the mfa_token, ``POST /auth/token/mfa``
takes it once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiSession
from accounts.sms.models import SmsDevice
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import TOKEN_URL, error_code
from tests.accounts.test_sms_services import PHONE, last_code, sent_messages
from tests.factories import DEFAULT_PASSWORD
from tests.mfa import recovery_codes_activate, totp_activate

pytestmark = pytest.mark.django_db

MFA_URL = "/api/v1/auth/token/mfa"
SMS_URL = "/api/v1/auth/token/mfa/sms"


@pytest.fixture
def sms_dir(settings, tmp_path):
    settings.SMS_BACKEND = "accounts.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    return tmp_path / "sms"


@pytest.fixture
def sms_user(member, sms_dir):
    SmsDevice.objects.create(user=member, phone=PHONE)
    return member


def _password_step(user) -> dict:
    response = APIClient().post(
        TOKEN_URL, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _send(mfa_token):
    # A 503 is an answer here, not an exception for the test client to raise.
    return APIClient(raise_request_exception=False).post(
        SMS_URL, {"mfa_token": mfa_token}, format="json"
    )


def _mfa(mfa_token, code):
    return APIClient().post(MFA_URL, {"mfa_token": mfa_token, "code": code}, format="json")


def test_methods_list_sms(sms_user):
    body = _password_step(sms_user)
    assert body["mfa_required"] is True and body["methods"] == ["sms"]
    assert "access" not in body


def test_methods_list_every_factor_in_order(sms_user):
    totp_activate(sms_user)
    recovery_codes_activate(sms_user)
    assert _password_step(sms_user)["methods"] == ["totp", "sms", "recovery_codes"]


def test_a_texted_code_completes_the_sign_in(sms_user, sms_dir):
    ticket = _password_step(sms_user)["mfa_token"]
    response = _send(ticket)
    assert response.status_code == 202, response.content
    assert response.json() == {"sent_to": "+1********23", "expires_in": 300}
    [message] = sent_messages(sms_dir)
    assert message["to"] == PHONE
    code = last_code(sms_dir)
    response = _mfa(ticket, code)
    assert response.status_code == 200, response.content
    assert set(response.json()) >= {"access", "refresh", "session_id"}
    event = AuditEvent.objects.get(action="auth.login.succeeded")
    assert event.metadata["method"] == "password+sms"
    assert not AuditEvent.objects.filter(metadata__icontains=code).exists()


def test_sending_does_not_spend_the_mfa_token(sms_user, sms_dir):
    ticket = _password_step(sms_user)["mfa_token"]
    assert _send(ticket).status_code == 202
    assert _send(ticket).status_code == 202
    assert _mfa(ticket, last_code(sms_dir)).status_code == 200
    response = _send(ticket)  # spent by the sign-in
    assert response.status_code == 401 and error_code(response) == "invalid_mfa_token"


def test_a_code_works_once(sms_user, sms_dir):
    ticket = _password_step(sms_user)["mfa_token"]
    _send(ticket)
    code = last_code(sms_dir)
    assert _mfa(ticket, code).status_code == 200
    response = _mfa(_password_step(sms_user)["mfa_token"], code)
    assert response.status_code == 401 and error_code(response) == "invalid_code"
    assert ApiSession.objects.count() == 1


def test_an_expired_code_is_refused(sms_user, sms_dir, settings):
    settings.AUTH_MFA_TOKEN_TTL = 900  # the ticket outlives the code
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        ticket = _password_step(sms_user)["mfa_token"]
        _send(ticket)
        traveller.shift(timedelta(minutes=5, seconds=1))
        response = _mfa(ticket, last_code(sms_dir))
    assert response.status_code == 401 and error_code(response) == "invalid_code"


def test_recovery_codes_stay_available(sms_user):
    codes = recovery_codes_activate(sms_user)
    ticket = _password_step(sms_user)["mfa_token"]
    assert _mfa(ticket, codes[0]).status_code == 200


def test_totp_stays_available(sms_user):
    totp = totp_activate(sms_user)
    ticket = _password_step(sms_user)["mfa_token"]
    assert _mfa(ticket, totp.now()).status_code == 200


def test_sends_are_rate_limited(sms_user, sms_dir, settings):
    # Retry-After is the wait of the limit that was hit (5 minutes), not the longest one.
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "sms_send": "2/5m/key,10/d/key",
    }
    ticket = _password_step(sms_user)["mfa_token"]
    assert _send(ticket).status_code == 202
    assert _send(ticket).status_code == 202
    response = _send(ticket)
    assert response.status_code == 429 and error_code(response) == "too_many_sms"
    assert int(response["Retry-After"]) == 300
    assert len(sent_messages(sms_dir)) == 2
    assert _mfa(ticket, last_code(sms_dir)).status_code == 200  # the ticket is still good


def test_wrong_sms_codes_count_towards_the_lockout(sms_user, sms_dir, settings):
    settings.ACCOUNT_RATE_LIMITS = {
        **settings.ACCOUNT_RATE_LIMITS,
        "login_failed": "100/m/ip,3/5m/key",
    }
    ticket = _password_step(sms_user)["mfa_token"]
    _send(ticket)
    code = last_code(sms_dir)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        response = _mfa(ticket, wrong)
        assert response.status_code == 401 and error_code(response) == "invalid_code"
    response = _mfa(_password_step(sms_user)["mfa_token"], code)
    assert response.status_code == 429 and error_code(response) == "too_many_attempts"


def test_bad_tokens_and_bodies(sms_user):
    response = _send("not-a-ticket")
    assert response.status_code == 401 and error_code(response) == "invalid_mfa_token"
    response = APIClient().post(SMS_URL, {}, format="json")
    assert response.status_code == 400 and error_code(response) == "required"
    ticket = _password_step(sms_user)["mfa_token"]
    response = APIClient().post(SMS_URL, {"mfa_token": ticket, "phone": PHONE}, format="json")
    assert response.status_code == 400 and error_code(response) == "unknown_field"
    response = APIClient().post(SMS_URL, {"mfa_token": 5}, format="json")
    assert response.status_code == 400


def test_an_account_without_a_phone_is_409(member, sms_dir):
    totp_activate(member)
    ticket = _password_step(member)["mfa_token"]
    response = _send(ticket)
    assert response.status_code == 409 and error_code(response) == "sms_not_enabled"
    assert sent_messages(sms_dir) == []


def test_a_gateway_down_is_503_and_keeps_no_code(sms_user, settings):
    settings.SMS_BACKEND = "accounts.sms.backends.TwilioBackend"
    settings.SMS_TWILIO_BASE_URL = "http://127.0.0.1:9"
    settings.SMS_TWILIO_ACCOUNT_SID = "AC1"
    settings.SMS_TWILIO_AUTH_TOKEN = "t"  # noqa: S105 - test value
    settings.SMS_TWILIO_FROM = "+15005550006"
    settings.SMS_TIMEOUT = 0.5
    ticket = _password_step(sms_user)["mfa_token"]
    response = _send(ticket)
    assert response.status_code == 503 and error_code(response) == "sms_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not sms_user.sms_codes.exists()


def test_status_and_user_object_show_mfa_on(sms_user, client_for):
    client = client_for(sms_user)
    assert client.get("/api/v1/users/me").json()["mfa_enabled"] is True
    assert client.get("/api/v1/auth/status").json()["mfa_enabled"] is True
