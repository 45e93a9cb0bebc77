"""WebAuthn: add a passkey (Chromium's virtual authenticator stands in for the device),
sign in with it alone, then remove it."""

import pytest

from tests.pages.conftest import open_account_page, screenshot, sign_in, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "passkey@example.com"
PASSWORD = "copper-kettle-16-moths"


def confirm_password_if_asked(page) -> None:
    if page.get_by_role("heading", name="Confirm Access").is_visible():
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()


def test_passkey_add_sign_in_remove(page, site, settings):
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True  # the test server speaks plain http
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    verified_user(EMAIL, PASSWORD)
    sign_in(page, site.url, EMAIL, PASSWORD)
    open_account_page(page, "Two-factor")
    page.locator("section", has_text="Security Keys").get_by_role("link", name="Add").click()
    confirm_password_if_asked(page)
    page.get_by_role("heading", name="Add Security Key").wait_for()
    page.get_by_label("Name").fill("Laptop passkey")
    page.get_by_label("Passwordless").check()
    page.get_by_role("button", name="Add").click()
    page.get_by_text("Security key added.").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("heading", name="Your account").wait_for()
    assert EMAIL in page.content()

    open_account_page(page, "Two-factor")
    page.locator("section", has_text="Security Keys").get_by_role("link", name="Manage").click()
    page.get_by_text("Laptop passkey").wait_for()
    page.get_by_role("link", name="Remove").click()
    confirm_password_if_asked(page)
    page.get_by_role("button", name="Remove").click()
    page.get_by_text("Security key removed.").wait_for()
    screenshot(page, "journey-passkey")
