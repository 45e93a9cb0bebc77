"""SMS codes on the pages: add a phone (number → texted code → confirm), sign in with a
texted code at allauth's MFA step (recovery codes and TOTP still there), remove it."""

from __future__ import annotations

import pyotp
import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.sms.models import SmsCode, SmsDevice
from audit.models import AuditEvent
from notifications.models import Notification
from tests.accounts.test_sms_services import PHONE, last_code, sent_messages
from tests.factories import DEFAULT_PASSWORD
from tests.mfa import TOTP, recovery_codes_activate, totp_activate

pytestmark = pytest.mark.django_db

SETUP = "/accounts/2fa/sms/"
CONFIRM = "/accounts/2fa/sms/confirm/"
REMOVE = "/accounts/2fa/sms/remove/"
SEND = "/accounts/2fa/sms/send/"
AUTHENTICATE = "/accounts/2fa/authenticate/"


@pytest.fixture
def sms_dir(settings, tmp_path):
    settings.SMS_BACKEND = "accounts.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    return tmp_path / "sms"


@pytest.fixture
def verified(member):
    EmailAddress.objects.create(user=member, email=member.email, verified=True, primary=True)
    return member


def _browser() -> Client:
    return Client(HTTP_USER_AGENT="Mozilla/5.0 (sms test)", REMOTE_ADDR="203.0.113.9")


def _sign_in(web, user):
    return web.post("/accounts/login/", {"login": user.email, "password": DEFAULT_PASSWORD})


def _get_past_reauthentication(web, url):
    response = web.get(url)
    if response.status_code == 302 and "reauthenticate" in response["Location"]:
        web.post(response["Location"], {"password": DEFAULT_PASSWORD})
        response = web.get(url)
    return response


def test_adding_a_phone(verified, sms_dir):
    web, other = _browser(), _browser()
    _sign_in(web, verified)
    _sign_in(other, verified)
    assert _get_past_reauthentication(web, SETUP).status_code == 200
    response = web.post(SETUP, {"phone": "+1 415 555 0123"})
    assert response.status_code == 302 and response["Location"] == CONFIRM
    page = web.get(CONFIRM)
    assert PHONE in page.content.decode()
    response = web.post(CONFIRM, {"code": last_code(sms_dir)})
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/"
    assert SmsDevice.objects.get(user=verified).phone == PHONE
    assert AuditEvent.objects.filter(action="auth.mfa.sms.added").count() == 1
    assert Notification.objects.filter(user=verified, kind="mfa_changed").exists()
    # The other browser's session ended; this one stays.
    assert other.get("/account/").status_code == 302
    assert web.get("/account/").status_code == 200
    index = web.get("/accounts/2fa/").content.decode()
    assert "Codes by SMS" in index and "+1********23" in index


def test_a_wrong_number_format_sends_nothing(verified, sms_dir):
    web = _browser()
    _sign_in(web, verified)
    _get_past_reauthentication(web, SETUP)
    response = web.post(SETUP, {"phone": "0415 555 0123"})
    assert response.status_code == 200
    assert "international format" in response.content.decode()
    assert sent_messages(sms_dir) == [] and not SmsCode.objects.exists()


def test_a_wrong_code_adds_nothing(verified, sms_dir):
    web = _browser()
    _sign_in(web, verified)
    _get_past_reauthentication(web, SETUP)
    web.post(SETUP, {"phone": PHONE})
    code = last_code(sms_dir)
    response = web.post(CONFIRM, {"code": f"{(int(code) + 1) % 10**6:06d}"})
    assert response.status_code == 200 and "not valid" in response.content.decode()
    assert not SmsDevice.objects.exists()


def test_the_send_limit_shows_on_the_page(verified, sms_dir, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "sms_send": "1/5m/key"}
    web = _browser()
    _sign_in(web, verified)
    _get_past_reauthentication(web, SETUP)
    web.post(SETUP, {"phone": PHONE})
    response = web.post(SETUP, {"phone": PHONE}, follow=True)
    assert "Too many codes were sent" in response.content.decode()
    assert len(sent_messages(sms_dir)) == 1


def test_signing_in_with_a_texted_code(verified, sms_dir):
    SmsDevice.objects.create(user=verified, phone=PHONE)
    web = _browser()
    response = _sign_in(web, verified)
    assert response.status_code == 302 and response["Location"] == AUTHENTICATE
    page = web.get(AUTHENTICATE).content.decode()
    assert "Send a code by SMS to +1********23" in page
    assert web.get("/account/").status_code == 302  # not signed in yet
    response = web.post(SEND)
    assert response.status_code == 302 and response["Location"] == AUTHENTICATE
    assert "A code was sent" in web.get(AUTHENTICATE).content.decode()
    response = web.post(AUTHENTICATE, {"code": last_code(sms_dir)})
    assert response.status_code == 302
    assert web.get("/account/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.login.succeeded").count() == 1


def test_a_texted_code_works_once_on_the_pages(verified, sms_dir):
    SmsDevice.objects.create(user=verified, phone=PHONE)
    web = _browser()
    _sign_in(web, verified)
    web.post(SEND)
    code = last_code(sms_dir)
    assert web.post(AUTHENTICATE, {"code": code}).status_code == 302
    again = _browser()
    _sign_in(again, verified)
    response = again.post(AUTHENTICATE, {"code": code})
    assert response.status_code == 200 and again.get("/account/").status_code == 302


def test_sending_without_a_sign_in_in_progress_goes_to_the_login(sms_dir):
    response = _browser().post(SEND)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert sent_messages(sms_dir) == []


def test_recovery_codes_and_totp_stay_available(verified, sms_dir):
    SmsDevice.objects.create(user=verified, phone=PHONE)
    codes = recovery_codes_activate(verified)
    web = _browser()
    _sign_in(web, verified)
    assert web.post(AUTHENTICATE, {"code": codes[0]}).status_code == 302
    assert web.get("/account/").status_code == 200

    secret = pyotp.random_base32()
    totp_activate(verified, secret)
    web = _browser()
    _sign_in(web, verified)
    page = web.get(AUTHENTICATE).content.decode()
    assert "Send a code by SMS" in page  # offered beside the authenticator app
    assert web.post(AUTHENTICATE, {"code": TOTP(secret).now()}).status_code == 302
    assert web.get("/account/").status_code == 200


def test_removing_the_phone(verified, sms_dir):
    SmsDevice.objects.create(user=verified, phone=PHONE)
    web = _browser()
    _sign_in(web, verified)
    web.post(SEND)
    web.post(AUTHENTICATE, {"code": last_code(sms_dir)})
    _get_past_reauthentication(web, SETUP)
    response = web.post(REMOVE)
    assert response.status_code == 302
    assert not SmsDevice.objects.exists()
    assert AuditEvent.objects.filter(action="auth.mfa.sms.removed").count() == 1
    # Signing in asks for no second factor any more.
    response = _sign_in(_browser(), verified)
    assert response.status_code == 302 and response["Location"] != AUTHENTICATE


def test_the_page_refuses_a_phone_while_an_address_is_unverified(member, sms_dir):
    EmailAddress.objects.create(user=member, email=member.email, verified=False, primary=True)
    web = _browser()
    web.force_login(member)
    _get_past_reauthentication(web, SETUP)
    response = web.post(SETUP, {"phone": PHONE}, follow=True)
    assert "verified your email address" in response.content.decode()
    assert sent_messages(sms_dir) == []
