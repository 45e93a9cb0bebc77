"""Codes by SMS in Chromium: a user adds a phone from the two-factor page (the texted code
read back from the file gateway), signs out, and signs in again with a texted code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.pages.conftest import (  # noqa: F401  (the page tests' browser fixtures)
    browser_context_args,
    browser_required,
    browser_type_launch_args,
    chromium_available,
    open_account_page,
    page,
    screenshot,
    sign_in,
    site,
    verified_user,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not chromium_available() and not browser_required(),
        reason="Chromium not found; set ROSTER_REQUIRE_BROWSER=1 to make this a failure",
    ),
]

EMAIL = "sms.user@example.com"
PASSWORD = "amber-harbour-58-kites"


def _last_code(sms_dir: Path) -> str:
    newest = sorted(sms_dir.iterdir())[-1]
    return re.match(r"(\d{6}) ", json.loads(newest.read_text())["body"]).group(1)


def test_add_a_phone_then_sign_in_with_a_texted_code(page, site, settings, tmp_path):  # noqa: F811
    settings.SMS_BACKEND = "accounts.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    sms_dir = tmp_path / "sms"
    verified_user(EMAIL, PASSWORD)
    sign_in(page, site.url, EMAIL, PASSWORD)
    page.get_by_role("heading", name="Your account").wait_for()

    open_account_page(page, "Two-factor")
    page.locator("section", has_text="Codes by SMS").get_by_role("link", name="Activate").click()
    if page.get_by_role("heading", name="Confirm Access").is_visible():
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Codes by SMS").wait_for()
    page.get_by_label("Mobile number").fill("+1 415 555 0123")
    page.get_by_role("button", name="Send a code").click()
    page.get_by_role("heading", name="Enter the code").wait_for()
    page.get_by_label("Code").fill(_last_code(sms_dir))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Codes by SMS are on.").wait_for()
    assert page.get_by_text("+1********23").first.is_visible()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").first.wait_for()
    sign_in(page, site.url, EMAIL, PASSWORD)
    page.get_by_role("heading", name="Two-Factor Authentication").wait_for()
    page.get_by_role("button", name="Send a code by SMS to +1********23").click()
    page.get_by_text("A code was sent to +1********23.").wait_for()
    page.get_by_label("Code").fill(_last_code(sms_dir))
    screenshot(page, "sms-sign-in")
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("heading", name="Your account").wait_for()
