"""Journey 2: TOTP two-factor sign-in; recovery codes viewed, downloaded and regenerated
(the old set stops working); a recovery code works exactly once."""

import time

import pytest

from tests.mfa import TOTP
from tests.pages.conftest import open_account_page, screenshot, sign_in, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "mfa.user@example.com"
PASSWORD = "quiet-lantern-73-rivers"


def current_code(secret: str) -> str:
    """A TOTP code that stays valid for at least a few seconds (never one about to expire)."""
    totp = TOTP(secret)
    if totp.interval - time.time() % totp.interval < 3:
        time.sleep(3)
    return totp.now()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").first.wait_for()


def test_totp_then_recovery_code_once(page, site):
    verified_user(EMAIL, PASSWORD)
    sign_in(page, site.url, EMAIL, PASSWORD)
    page.get_by_role("heading", name="Your account").wait_for()

    open_account_page(page, "Two-factor")
    page.get_by_role("heading", name="Authenticator App").wait_for()
    page.locator("section", has_text="Authenticator App").get_by_role(
        "link", name="Activate"
    ).click()
    # Adding an authenticator asks for the password again, even right after signing in.
    if page.get_by_role("heading", name="Confirm Access").is_visible():
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Activate Authenticator App").wait_for()
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    secret = page.locator("#authenticator_secret").input_value()
    screenshot(page, "journey2-totp-activate")
    assert len(secret) >= 16
    page.get_by_label("Authenticator code").fill(current_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.get_by_text("Authenticator app activated.").wait_for()

    # Recovery codes were generated with it: view them, and they can be downloaded.
    page.goto(f"{site.url}/accounts/2fa/recovery-codes/")
    codes = page.locator("#recovery_codes").input_value().split()
    assert len(codes) == 10
    with page.expect_download() as download:
        page.get_by_role("link", name="Download codes").click()
    assert codes[0] in download.value.path().read_text()

    # Regenerating replaces the whole set: the old codes stop working.
    page.get_by_role("link", name="Generate new codes").click()
    page.get_by_role("button", name="Generate").click()
    page.goto(f"{site.url}/accounts/2fa/recovery-codes/")
    old_codes, codes = codes, page.locator("#recovery_codes").input_value().split()
    assert len(codes) == 10 and not set(codes) & set(old_codes)

    sign_out(page)
    sign_in(page, site.url, EMAIL, PASSWORD)
    page.get_by_role("heading", name="Two-Factor Authentication").wait_for()
    page.get_by_label("Code").fill(current_code(secret))
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("heading", name="Your account").wait_for()

    sign_out(page)
    sign_in(page, site.url, EMAIL, PASSWORD)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("heading", name="Your account").wait_for()

    sign_out(page)
    sign_in(page, site.url, EMAIL, PASSWORD)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign In").click()
    page.get_by_text("Incorrect code.").wait_for()
    assert "/accounts/2fa/authenticate/" in page.url
    page.get_by_label("Code").fill(old_codes[1])
    page.get_by_role("button", name="Sign In").click()
    page.get_by_text("Incorrect code.").wait_for()
    assert "/accounts/2fa/authenticate/" in page.url
    screenshot(page, "journey2-mfa")
