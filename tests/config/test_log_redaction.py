"""No secret carried in a URL reaches a log line or the audit log (config.logging.redact_path):
password-reset and email-confirmation keys, query values."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.core import mail
from django.test import Client

from audit.masking import mask
from audit.models import AuditEvent
from audit.personal import reveal
from config.logging import JSONFormatter, redact_path
from tests.config.test_gunicorn import PROCFILE_APP
from tests.servers import free_port, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
RESET_KEY = "3k-cv9z8b-0c1d2e3f4a5b6c7d8e9f0a1b"
CONFIRM_KEY = "MQ:1vXyZa:abcdEFGHijklMNOPqrstUVwxyz012345"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"/accounts/password/reset/key/{RESET_KEY}/",
            "/accounts/password/reset/key/[redacted]/",
        ),
        (f"/accounts/confirm-email/{CONFIRM_KEY}/", "/accounts/confirm-email/[redacted]/"),
        (
            f'GET /accounts/confirm-email/{CONFIRM_KEY}/ HTTP/1.1" 200',
            'GET /accounts/confirm-email/[redacted]/ HTTP/1.1" 200',
        ),
        (
            f"https://roster.example/accounts/password/reset/key/{RESET_KEY}/?next=/x",
            "https://roster.example/accounts/password/reset/key/[redacted]/?next=[redacted]",
        ),
        (
            "/accounts/oidc/acme/login/callback/?code=oauth-code&state=s1",
            "/accounts/oidc/acme/login/callback/?code=[redacted]&state=[redacted]",
        ),
        ("Internal Server Error: /accounts/password/reset/key/done/", None),
        ("/accounts/confirm-email/", None),
        ("/api/v1/users/me", None),
        ("no path here", None),
    ],
)
def test_redact_path_hides_keys_and_query_values(text, expected):
    assert redact_path(text) == (text if expected is None else expected)


def test_json_formatter_redacts_a_django_request_log_and_its_traceback():
    path = f"/accounts/password/reset/key/{RESET_KEY}/"
    try:
        raise ValueError(f"cannot serve {path}")
    except ValueError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            (path,),
            sys.exc_info(),
        )

    line = json.loads(JSONFormatter().format(record))

    assert RESET_KEY not in json.dumps(line)
    assert line["message"] == "Internal Server Error: /accounts/password/reset/key/[redacted]/"
    assert "cannot serve /accounts/password/reset/key/[redacted]/" in line["exc"]


@pytest.mark.django_db
def test_django_request_log_of_a_key_bearing_path_is_redacted():
    # The handler settings.LOGGING gives the root logger, writing into a buffer for the test.
    handler = next(
        h for h in logging.getLogger().handlers if isinstance(h.formatter, JSONFormatter)
    )
    buffer = io.StringIO()
    stream = handler.setStream(buffer)
    # 404s are logged at WARNING; production keeps django.request at ERROR, the rule is the same.
    request_logger = logging.getLogger("django.request")
    level = request_logger.level
    request_logger.setLevel(logging.WARNING)
    try:
        response = Client().get(f"/accounts/confirm-email/{CONFIRM_KEY}/unknown")
    finally:
        request_logger.setLevel(level)
        handler.setStream(stream)

    assert response.status_code == 404
    out = buffer.getvalue()
    logged = [json.loads(line) for line in out.splitlines()]
    assert [line["message"] for line in logged if line["logger"] == "django.request"] == [
        "Not Found: /accounts/confirm-email/[redacted]/unknown"
    ]
    assert CONFIRM_KEY not in out


def test_gunicorn_logs_no_reset_or_confirmation_key(tmp_path):
    """The Procfile's gunicorn, with a format that also prints the request line and the
    Referer: no line carries a key, whichever atom would have carried it."""
    log = tmp_path / "gunicorn.log"
    errors = tmp_path / "gunicorn.err"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PATH": "/usr/bin:/bin", "ROSTER_VAR_DIR": str(tmp_path), "DEBUG": "true"}
    with log.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                *PROCFILE_APP,
                "--config",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--no-control-socket",
                "--access-logfile",
                "-",
                "--access-logformat",
                '%(m)s %(U)s %(s)s "%(r)s" "%(f)s" %(q)s',
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=err,
        )
        try:
            wait_until_up(base, process, errors)
            reset = httpx.get(
                f"{base}/accounts/password/reset/key/{RESET_KEY}/?token={RESET_KEY}",
                headers={"X-Request-ID": "req-reset-key"},
                timeout=20,
            )
            confirm = httpx.get(
                f"{base}/accounts/confirm-email/{CONFIRM_KEY}/",
                headers={
                    "X-Request-ID": "req-confirm-key",
                    "Referer": f"{base}/accounts/password/reset/key/{RESET_KEY}/",
                },
                timeout=20,
            )
        finally:
            stop(process)

    text = log.read_text() + errors.read_text()
    assert reset.headers["X-Request-ID"] == "req-reset-key"
    assert confirm.headers["X-Request-ID"] == "req-confirm-key"
    by_id = {
        line["request_id"]: line
        for line in map(json.loads, log.read_text().splitlines())
        if line["logger"] == "gunicorn.access"
    }
    assert by_id["req-reset-key"]["path"] == "/accounts/password/reset/key/[redacted]/"
    assert by_id["req-confirm-key"]["path"] == "/accounts/confirm-email/[redacted]/"
    assert "/accounts/confirm-email/[redacted]/" in by_id["req-confirm-key"]["message"]
    assert RESET_KEY not in text and CONFIRM_KEY not in text


def test_audit_mask_redacts_a_key_bearing_url():
    masked = mask({"next": f"/accounts/confirm-email/{CONFIRM_KEY}/", "note": "plain"})

    assert masked == {"next": "/accounts/confirm-email/[redacted]/", "note": "plain"}


@pytest.mark.django_db
def test_password_reset_by_link_leaves_no_key_in_the_audit_log(user_factory):
    user = user_factory(email="reset-audit@example.com")
    client = Client()
    client.post("/accounts/password/reset/", {"email": user.email})
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/(\S+)/)", mail.outbox[-1].body)
    response = client.get(link.group(1), follow=True)
    set_url = response.redirect_chain[-1][0]
    new_password = "a new Passw0rd for the audit"
    client.post(set_url, {"password1": new_password, "password2": new_password})

    events = list(AuditEvent.objects.all())
    assert "auth.password.reset" in {e.action for e in events}
    key = link.group(2).split("-", 1)[1]
    for event in events:
        stored = json.dumps([event.actor_display, event.changes, event.metadata, event.user_agent])
        shown = json.dumps(reveal(event), default=str)
        assert key not in stored and key not in shown, event.action


def test_error_report_of_a_key_bearing_request_is_redacted(rf, user_factory):
    from django.views.debug import get_exception_reporter_class

    request = rf.get(
        f"/accounts/password/reset/key/{RESET_KEY}/?token={CONFIRM_KEY}",
        HTTP_REFERER=f"https://roster.example/accounts/confirm-email/{CONFIRM_KEY}/",
    )
    request.user = user_factory.build(email="reporter@example.com")
    try:
        raise RuntimeError(f"failed on {request.path}")
    except RuntimeError:
        reporter = get_exception_reporter_class(request)(request, *sys.exc_info())
        text = reporter.get_traceback_text()
        html = reporter.get_traceback_html()

    for report in (text, html):
        assert "/accounts/password/reset/key/[redacted]/" in report
        assert RESET_KEY not in report and CONFIRM_KEY not in report
