"""SMS codes (accounts.sms): numbers, codes (hashed, single-use, 5 minutes), send limits,
the file gateway and the HTTP gateway against a real local HTTP server."""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import time_machine
from django.test import RequestFactory
from django.utils import timezone

from accounts import selectors
from accounts.export import user_export
from accounts.sms import services
from accounts.sms.backends import FileBackend, SmsUnavailable, TwilioBackend
from accounts.sms.models import SmsCode, SmsDevice
from audit.models import AuditEvent
from audit.personal import reveal
from config.errors import Invalid, TooManyRequests

pytestmark = pytest.mark.django_db

PHONE = "+14155550123"


@pytest.fixture
def sms_dir(settings, tmp_path):
    settings.SMS_BACKEND = "accounts.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    return tmp_path / "sms"


def sent_messages(sms_dir: Path) -> list[dict]:
    if not sms_dir.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(sms_dir.iterdir())]


def last_code(sms_dir: Path) -> str:
    return re.match(r"(\d{6}) ", sent_messages(sms_dir)[-1]["body"]).group(1)


def _request(user=None):
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")
    if user is not None:
        request.user = user
    return request


def _set_up(user, sms_dir) -> SmsDevice:
    services.setup_start(_request(user), user=user, phone=PHONE)
    return services.setup_confirm(_request(user), user=user, code=last_code(sms_dir))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("+1 415 555 0123", PHONE), ("+44 20 7946 0958", "+442079460958"), ("+4915123456789", None)],
)
def test_numbers_are_stored_in_e164(text, expected):
    number = services.normalize_phone(text)
    assert number == (expected or text.replace(" ", ""))


@pytest.mark.parametrize("text", ["", "4155550123", "+1 555", "+999 123456", "phone", "+1" * 20])
def test_wrong_number_formats_are_invalid_phone(text):
    with pytest.raises(Invalid) as exc:
        services.normalize_phone(text)
    assert exc.value.code == "invalid_phone" and exc.value.attr == "phone"


def test_setup_sends_a_code_and_the_code_adds_the_phone(member, sms_dir):
    services.setup_start(_request(member), user=member, phone="+1 (415) 555-0123")
    [message] = sent_messages(sms_dir)
    assert message["to"] == PHONE and re.match(r"\d{6} is your Roster", message["body"])
    assert not selectors.has_mfa(member)
    code = last_code(sms_dir)
    row = SmsCode.objects.get(user=member)
    assert code not in row.code_hash and len(row.code_hash) == 64  # kept hashed
    device = services.setup_confirm(_request(member), user=member, code=code)
    assert device.phone == PHONE
    assert selectors.has_mfa(member)
    assert selectors.auth_flags(member)[0] is True
    assert selectors.user_as_dict(member)["mfa_enabled"] is True
    added = AuditEvent.objects.get(action="auth.mfa.sms.added")
    assert PHONE not in json.dumps(added.metadata)  # personal: stored encrypted
    assert reveal(added).metadata["phone"] == "+1********23"
    assert code not in json.dumps(added.metadata)
    assert not AuditEvent.objects.filter(metadata__icontains=code).exists()


def test_the_mfa_annotation_counts_sms(member, other_member, sms_dir):
    from accounts.models import User

    _set_up(member, sms_dir)
    flags = dict(
        User.objects.annotate(on=selectors.mfa_enabled_expression()).values_list("email", "on")
    )
    assert flags[member.email] is True and flags[other_member.email] is False


def test_a_wrong_or_reused_setup_code_adds_nothing(member, sms_dir):
    services.setup_start(_request(member), user=member, phone=PHONE)
    code = last_code(sms_dir)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(Invalid):
        services.setup_confirm(_request(member), user=member, code=wrong)
    assert not SmsDevice.objects.exists()
    services.setup_confirm(_request(member), user=member, code=code)
    with pytest.raises(Invalid):
        services.setup_confirm(_request(member), user=member, code=code)
    assert SmsDevice.objects.count() == 1


def test_a_code_expires_after_five_minutes(member, sms_dir):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        services.setup_start(_request(member), user=member, phone=PHONE)
        code = last_code(sms_dir)
        traveller.shift(timedelta(minutes=5, seconds=1))
        with pytest.raises(Invalid):
            services.setup_confirm(_request(member), user=member, code=code)
        assert services.pending_phone(member) is None
    assert not SmsDevice.objects.exists()


def test_five_wrong_tries_spend_the_code(member, sms_dir):
    services.setup_start(_request(member), user=member, phone=PHONE)
    code = last_code(sms_dir)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(services.MAX_CODE_ATTEMPTS):
        with pytest.raises(Invalid):
            services.setup_confirm(_request(member), user=member, code=wrong)
    with pytest.raises(Invalid):
        services.setup_confirm(_request(member), user=member, code=code)


def test_a_new_code_replaces_the_previous_one(member, sms_dir):
    device = _set_up(member, sms_dir)
    services.send_login_code(_request(member), user=member)
    first = last_code(sms_dir)
    services.send_login_code(_request(member), user=member)
    second = last_code(sms_dir)
    if first != second:
        assert services.login_code_take(user=member, code=first) is None
    assert services.login_code_take(user=member, code=second) == device
    assert services.login_code_take(user=member, code=second) is None  # single-use
    assert SmsDevice.objects.get().last_used_at is not None


def test_sends_are_limited_per_account(member, sms_dir, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "sms_send": "2/5m/key"}
    _set_up(member, sms_dir)  # one send
    services.send_login_code(_request(member), user=member)
    with pytest.raises(TooManyRequests) as exc:
        services.send_login_code(_request(member), user=member)
    assert exc.value.code == "too_many_sms" and exc.value.wait == 300
    assert len(sent_messages(sms_dir)) == 2


def test_sends_are_limited_per_number(member, other_member, sms_dir, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "sms_send": "2/5m/key"}
    services.setup_start(_request(member), user=member, phone=PHONE)
    services.setup_start(_request(other_member), user=other_member, phone=PHONE)
    with pytest.raises(TooManyRequests):
        # A third account cannot flood the same phone.
        services.setup_start(_request(member), user=member, phone="+1 415 555 0123")
    assert len(sent_messages(sms_dir)) == 2


def test_removing_the_phone_is_audited_and_mfa_is_off(member, sms_dir):
    _set_up(member, sms_dir)
    services.remove(_request(member), user=member)
    assert not selectors.has_mfa(member)
    assert AuditEvent.objects.filter(action="auth.mfa.sms.removed").count() == 1
    assert not SmsCode.objects.filter(user=member).exists()


def test_the_file_backend_writes_under_the_var_dir(settings, tmp_path):
    settings.SMS_FILE_PATH = str(tmp_path / "var" / "sms")
    FileBackend().send(to=PHONE, body="hello")
    [message] = sent_messages(tmp_path / "var" / "sms")
    assert message["to"] == PHONE and message["body"] == "hello"


def test_the_default_file_path_is_in_roster_var_dir(settings):
    assert Path(settings.SMS_FILE_PATH) == Path(settings.VAR_DIR) / "sms"


def test_a_failing_gateway_keeps_no_code(member, settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings.SMS_FILE_PATH = str(blocker / "sms")  # a directory under a file: OSError
    with pytest.raises(SmsUnavailable):
        services.setup_start(_request(member), user=member, phone=PHONE)
    assert not SmsCode.objects.exists()


# --- the HTTP gateway against a real local server ------------------------------------------


class _Gateway(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 201
    delay = 0.0

    def do_POST(self):  # noqa: N802 - http.server's name
        import time

        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        type(self).received.append(
            {
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "form": {k: v[0] for k, v in parse_qs(body).items()},
            }
        )
        if type(self).delay:
            time.sleep(type(self).delay)
        payload = json.dumps(
            {"sid": "SM123", "status": "queued"}
            if self.status < 300
            else {"code": 21211, "message": "Invalid 'To' Phone Number"}
        )
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload.encode())
        except BrokenPipeError:  # the client gave up (the timeout test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(settings):
    _Gateway.received = []
    _Gateway.status = 201
    _Gateway.delay = 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "accounts.sms.backends.TwilioBackend"
    settings.SMS_TWILIO_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    settings.SMS_TWILIO_ACCOUNT_SID = "AC0123456789"
    settings.SMS_TWILIO_AUTH_TOKEN = "gateway-secret"  # noqa: S105 - test value
    settings.SMS_TWILIO_FROM = "+15005550006"
    settings.SMS_TIMEOUT = 1.0
    yield _Gateway
    server.shutdown()
    server.server_close()


def test_the_http_gateway_posts_twilios_messages_shape(gateway, member):
    services.setup_start(_request(member), user=member, phone=PHONE)
    [call] = gateway.received
    assert call["path"] == "/2010-04-01/Accounts/AC0123456789/Messages.json"
    assert call["content_type"].startswith("application/x-www-form-urlencoded")
    expected = base64.b64encode(b"AC0123456789:gateway-secret").decode()
    assert call["auth"] == f"Basic {expected}"
    assert call["form"]["To"] == PHONE and call["form"]["From"] == "+15005550006"
    assert re.match(r"\d{6} is your Roster verification code", call["form"]["Body"])
    assert SmsCode.objects.filter(user=member).count() == 1


def test_a_messaging_service_sid_is_sent_as_such(gateway, settings):
    settings.SMS_TWILIO_FROM = "MG0123"
    TwilioBackend().send(to=PHONE, body="hi")
    form = gateway.received[0]["form"]
    assert form["MessagingServiceSid"] == "MG0123" and "From" not in form


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_a_refusing_gateway_is_sms_unavailable_and_keeps_nothing(gateway, member, status, caplog):
    gateway.status = status
    with pytest.raises(SmsUnavailable) as exc:
        services.setup_start(_request(member), user=member, phone=PHONE)
    assert exc.value.status_code == 503 and exc.value.code == "sms_unavailable"
    assert not SmsCode.objects.exists()
    body = gateway.received[0]["form"]["Body"]
    assert body[:6] not in caplog.text and "gateway-secret" not in caplog.text


def test_a_slow_gateway_times_out(gateway, member, settings):
    settings.SMS_TIMEOUT = 0.2
    gateway.delay = 1.0
    with pytest.raises(SmsUnavailable):
        services.setup_start(_request(member), user=member, phone=PHONE)
    assert not SmsCode.objects.exists()


def test_an_unreachable_gateway_is_sms_unavailable(settings, member):
    settings.SMS_BACKEND = "accounts.sms.backends.TwilioBackend"
    settings.SMS_TWILIO_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.SMS_TWILIO_ACCOUNT_SID = "AC1"
    settings.SMS_TWILIO_AUTH_TOKEN = "t"  # noqa: S105 - test value
    settings.SMS_TWILIO_FROM = "+15005550006"
    with pytest.raises(SmsUnavailable):
        services.setup_start(_request(member), user=member, phone=PHONE)


def test_an_unconfigured_gateway_is_sms_unavailable(settings, member):
    settings.SMS_BACKEND = "accounts.sms.backends.TwilioBackend"
    settings.SMS_TWILIO_ACCOUNT_SID = ""
    with pytest.raises(SmsUnavailable):
        services.setup_start(_request(member), user=member, phone=PHONE)


def test_an_admin_mfa_reset_removes_the_phone(member, admin_user, sms_dir):
    from accounts.admin_services import user_mfa_reset

    _set_up(member, sms_dir)
    assert user_mfa_reset(user=member, actor=admin_user) == ["sms"]
    assert not SmsDevice.objects.exists() and not selectors.has_mfa(member)
    event = AuditEvent.objects.get(action="auth.mfa.disabled")
    assert event.metadata["authenticators"] == ["sms"]


def test_the_owners_export_lists_the_phone(member, sms_dir):
    _set_up(member, sms_dir)
    [entry] = user_export(user=member)["mfa"]
    assert entry["type"] == "sms" and entry["phone"] == PHONE


def test_no_phone_while_an_address_is_unverified(member, sms_dir):
    from allauth.account.models import EmailAddress

    from config.errors import Forbidden

    EmailAddress.objects.create(user=member, email=member.email, verified=False, primary=True)
    with pytest.raises(Forbidden) as exc:
        services.setup_start(_request(member), user=member, phone=PHONE)
    assert exc.value.code == "email_unverified"
    assert sent_messages(sms_dir) == []
