"""Plain words where people read: the security log says what happened ("You signed in",
"Two-factor turned on (authenticator app)") with the action code beside it for support, and
the sessions pages name the device ("Chrome on Linux") with the full agent on hover."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import open_account_page, sign_in, verified_user

PASSWORD = "a passphrase for plain words 42"
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_security_log_and_sessions_in_words(page, site):
    from audit.services import record

    user = verified_user("words@example.com", PASSWORD)
    record(action="auth.mfa.enabled", actor=user, target=user, metadata={"authenticator": "totp"})
    sign_in(page, site.url, "words@example.com", PASSWORD)

    open_account_page(page, "Security log")
    rows = page.get_by_test_id("audit-row")
    signed_in = rows.filter(has_text="auth.login.succeeded")
    expect(signed_in.get_by_test_id("event-words")).to_have_text("You signed in")
    expect(signed_in.get_by_test_id("event-code")).to_have_text("auth.login.succeeded")
    mfa = rows.filter(has_text="auth.mfa.enabled")
    expect(mfa.get_by_test_id("event-words")).to_have_text(
        "Two-factor turned on (authenticator app)"
    )

    open_account_page(page, "Sessions")
    agent = page.evaluate("navigator.userAgent")
    device = page.get_by_test_id("session-row").first.get_by_test_id("device")
    expect(device).to_have_text("Chrome on Linux")
    expect(device).to_have_attribute("title", agent)


@pytest.mark.parametrize(
    "agent, summary",
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (LINUX_FIREFOX, "Firefox on Linux"),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.32.3", "python-requests"),
        ("", ""),
    ],
)
def test_device_summary(agent, summary):
    from accounts.devices import device_summary

    assert device_summary(agent) == summary


@pytest.mark.parametrize(
    "action, metadata, words",
    [
        ("auth.login.succeeded", {}, "You signed in"),
        (
            "auth.mfa.enabled",
            {"authenticator": "webauthn"},
            "Two-factor turned on (security key or passkey)",
        ),
        ("auth.mfa.disabled", {"authenticator": "sms"}, "Two-factor turned off (text message)"),
        ("auth.social.connected", {"provider": "github"}, "Account connected (Github)"),
        ("apikey.created", None, "API key created"),
        ("something.unknown", {}, ""),
    ],
)
def test_security_log_words_have_one_source(action, metadata, words):
    from audit.words import describe

    assert describe(action, metadata) == words


@pytest.mark.django_db
def test_security_log_page_shows_words_and_code(client):
    from audit.services import record
    from tests.factories import UserFactory

    user = UserFactory()
    record(action="apikey.revoked", actor=user, target=user)
    client.force_login(user)
    html = client.get("/account/security-log/").content.decode()
    assert "API key revoked" in html
    assert "<code" in html and "apikey.revoked" in html
