"""Journey 1: a new user signs up, verifies the address from the mail, signs in and edits
their profile and a preference, which stay after a reload."""

import pytest
from django.core import mail

from tests.pages.conftest import link_in_mail, open_account_page, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-anchor-29-kites"


def test_signup_verify_sign_in(page, site):
    page.goto(f"{site.url}/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Email").fill("New.Person@Example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()

    page.get_by_role("heading", name="Verify Your Email Address").wait_for()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@example.com"]
    page.goto(site.url + link_in_mail(mail.outbox[0], "/accounts/confirm-email/"))
    page.get_by_role("button", name="Confirm").click()

    # Confirming signs the new user in (ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION).
    page.get_by_role("heading", name="Your account").wait_for()
    assert "new.person@example.com" in page.content()

    # Sign out and in again with the password.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, site.url, "new.person@example.com", PASSWORD)
    page.get_by_role("heading", name="Your account").wait_for()

    open_account_page(page, "Profile")
    page.get_by_label("Display name").fill("Ada L.")
    page.get_by_label("Phone").fill("not a phone")
    page.get_by_role("button", name="Save profile").click()
    # Server-side validation, shown next to the field; nothing saved.
    page.get_by_text("Use the international format").wait_for()
    page.get_by_label("Phone").fill("+41 44 668 18 00")
    page.get_by_label("Time zone").select_option("Europe/Zurich")
    page.get_by_role("button", name="Save profile").click()
    page.get_by_text("Profile saved.").wait_for()
    page.reload()
    assert page.get_by_label("Display name").input_value() == "Ada L."
    assert page.get_by_label("Phone").input_value() == "+41446681800"
    assert page.get_by_label("Time zone").input_value() == "Europe/Zurich"

    open_account_page(page, "Settings")
    page.get_by_label("Theme").select_option("dark")
    page.get_by_label("Page size").fill("5000")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Must be at most 200.").wait_for()
    page.get_by_label("Theme").select_option("dark")
    page.get_by_label("Page size").fill("100")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Settings saved.").wait_for()
    page.reload()
    assert page.get_by_label("Theme").input_value() == "dark"
    assert page.get_by_label("Page size").input_value() == "100"
    screenshot(page, "journey1-signup")


def test_forgotten_password_reset_by_mail(page, site):
    from tests.pages.conftest import verified_user

    verified_user("forgetful@example.com", PASSWORD)
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("forgetful@example.com")
    page.get_by_role("button", name="Reset My Password").click()
    page.get_by_role("heading", name="Password Reset").wait_for()
    reset = [m for m in mail.outbox if "forgetful@example.com" in m.to][-1]
    page.goto(site.url + link_in_mail(reset, "/accounts/password/reset/key/"))
    new_password = "lilac-compass-62-geese"
    page.get_by_label("New Password", exact=True).fill(new_password)
    page.get_by_label("New Password (again)").fill(new_password)
    page.get_by_role("button", name="Change Password").click()
    page.get_by_text("Your password is now changed.").wait_for()

    sign_in(page, site.url, "forgetful@example.com", PASSWORD)
    page.get_by_text("The email address and/or password you specified are not correct.").wait_for()
    sign_in(page, site.url, "forgetful@example.com", new_password)
    page.get_by_role("heading", name="Your account").wait_for()
