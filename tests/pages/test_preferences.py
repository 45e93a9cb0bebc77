"""Preferences take effect in the browser: theme and accent after saving them on the Settings
page, "auto" following the system's colour scheme, and times in the zone chosen on the
Profile page with the date format and clock chosen on the Settings page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import open_account_page, screenshot, sign_in, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a passphrase for preferences 42"
LIGHT_BG = "rgb(255, 255, 255)"
DARK_BG = "rgb(13, 17, 23)"

BACKGROUND = "() => getComputedStyle(document.body).backgroundColor"


def _save_settings(page, **values) -> None:
    open_account_page(page, "Settings")
    for name, value in values.items():
        field = page.locator(f"[name=setting__{name}]")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()


def test_dark_theme_and_accent_apply_after_saving(page, site):
    verified_user("theme@example.com", PASSWORD)
    page.emulate_media(color_scheme="light")
    sign_in(page, site.url, "theme@example.com", PASSWORD)
    assert page.evaluate(BACKGROUND) == LIGHT_BG

    _save_settings(page, theme="dark", accent_color="#aa3300")

    assert page.locator("html").get_attribute("data-theme") == "dark"
    assert page.evaluate(BACKGROUND) == DARK_BG
    # The accent is a stylesheet of its own: wait (polling) until it has been applied.
    expect(page.locator("main button[type=submit]")).to_have_css(
        "background-color", "rgb(170, 51, 0)"
    )
    screenshot(page, "preferences-dark-accent")
    # The light theme keeps the chosen accent.
    _save_settings(page, theme="light")
    assert page.evaluate(BACKGROUND) == LIGHT_BG
    # The accent is a stylesheet of its own: wait (polling) until it has been applied.
    expect(page.locator("main button[type=submit]")).to_have_css(
        "background-color", "rgb(170, 51, 0)"
    )


def test_auto_theme_follows_the_system(page, site):
    verified_user("auto@example.com", PASSWORD)
    page.emulate_media(color_scheme="dark")
    sign_in(page, site.url, "auto@example.com", PASSWORD)
    assert page.locator("html").get_attribute("data-theme") == "auto"
    assert page.evaluate(BACKGROUND) == DARK_BG
    page.emulate_media(color_scheme="light")
    assert page.evaluate(BACKGROUND) == LIGHT_BG


def test_times_in_the_users_zone_and_format(page, site):
    verified_user("times@example.com", PASSWORD)
    sign_in(page, site.url, "times@example.com", PASSWORD)
    open_account_page(page, "Sessions")
    started = page.get_by_test_id("session-row").first.locator("td").nth(3)
    expect(started).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))

    open_account_page(page, "Profile")
    page.get_by_label("Time zone").select_option("Asia/Kolkata")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    _save_settings(page, date_format="dmy", time_format="12h")

    open_account_page(page, "Sessions")
    expect(started).to_have_text(re.compile(r"^\d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M IST$"))
    open_account_page(page, "Security log")
    expect(page.get_by_test_id("audit-row").first.locator("td").first).to_have_text(
        re.compile(r"^\d\d/\d\d/\d{4} \d{1,2}:\d\d:\d\d [AP]M IST$")
    )
    expect(page.get_by_text("times in UTC")).to_have_count(0)

    _save_settings(page, timezone_display="utc")
    open_account_page(page, "Sessions")
    expect(started).to_have_text(re.compile(r"^\d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M UTC$"))
