"""In Chromium: a German user sees German pages and gets German emails, whatever the
browser's own language; the profile's Language field switches the pages at once."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.pages.conftest import screenshot, sign_in, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a passphrase for languages 42"


@pytest.fixture
def browser_context_args(browser_context_args):
    # An English browser: the profile's locale, not Accept-Language, decides.
    return {**browser_context_args, "locale": "en-US"}


def _wait_for_mail(count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(mail.outbox) >= count


def test_a_german_user_sees_german_pages_and_gets_german_emails(page, site):
    verified_user("greta@example.com", PASSWORD, locale="de")
    sign_in(page, site.url, "greta@example.com", PASSWORD)

    expect(page.locator("html")).to_have_attribute("lang", "de")
    nav = page.get_by_role("navigation", name="Konto")
    expect(nav).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Konto")

    nav.get_by_role("link", name="API-Schlüssel", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API-Schlüssel")
    expect(page.get_by_role("button", name="Schlüssel erstellen")).to_be_visible()

    nav.get_by_role("link", name="Profil", exact=True).click()
    expect(page.get_by_role("button", name="Profil speichern")).to_be_visible()
    page.get_by_role("button", name="Profil speichern").click()
    expect(page.get_by_text("Profil gespeichert.")).to_be_visible()
    screenshot(page, "i18n-german-profile")

    # Signed out, the English browser reads English; the reset email still follows Greta's locale.
    page.get_by_test_id("sign-out").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"{site.url}/accounts/password/reset/")
    page.locator("input[name=email]").fill("greta@example.com")
    page.locator("main button[type=submit], form button[type=submit]").last.click()
    _wait_for_mail(1)
    message = mail.outbox[-1]
    assert "Passwort" in message.subject + message.body
    assert "Password Reset" not in message.subject


def test_choosing_french_on_the_profile_switches_the_pages(page, site):
    verified_user("fabienne@example.com", PASSWORD, locale="en")
    sign_in(page, site.url, "fabienne@example.com", PASSWORD)
    page.get_by_role("navigation", name="Account").get_by_role(
        "link", name="Profile", exact=True
    ).click()
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profil enregistré.")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_label("Langue")).to_have_value("fr")
    expect(page.get_by_role("navigation", name="Compte")).to_contain_text(
        re.compile("Journal de sécurité")
    )
