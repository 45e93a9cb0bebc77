"""Journey 4 (an API key used by a program, then revoked on the page) and journey 6
(signing out another browser's session from the sessions page)."""

import httpx
import pytest

from accounts.models import ApiKey
from tests.pages.conftest import open_account_page, screenshot, sign_in, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "brisk-meadow-41-ferns"


def test_api_key_shown_once_used_then_revoked(page, site):
    verified_user("keys@example.com", PASSWORD)
    sign_in(page, site.url, "keys@example.com", PASSWORD)
    open_account_page(page, "API keys")

    page.get_by_label("Name").fill("deploy bot")
    page.get_by_label("profile:read").check()
    page.get_by_role("button", name="Create key").click()

    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("rst_")
    assert page.get_by_role("button", name="Copy key").is_visible()
    screenshot(page, "journey4-key-shown-once")
    row = page.get_by_test_id("api-key-row").filter(has_text="deploy bot")
    assert row.get_by_text("profile:read").is_visible()

    # The key works for a program...
    response = httpx.get(f"{site.url}/api/v1/users/me", headers={"X-API-Key": secret})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "keys@example.com"

    # ...and is never shown again.
    page.reload()
    assert secret not in page.content()
    page.goto(f"{site.url}/account/api-keys/")
    assert secret not in page.content()

    page.get_by_role("button", name="Revoke deploy bot").click()
    page.get_by_text("was revoked").wait_for()
    assert page.get_by_test_id("api-key-row").count() == 0
    assert ApiKey.objects.get(name="deploy bot").revoked_at is not None

    response = httpx.get(f"{site.url}/api/v1/users/me", headers={"X-API-Key": secret})
    assert response.status_code == 401
    screenshot(page, "journey4-api-keys")


def test_sign_out_other_browser_session(page, site, new_page):
    verified_user("two.browsers@example.com", PASSWORD)
    other = new_page()
    sign_in(other, site.url, "two.browsers@example.com", PASSWORD)
    other.get_by_role("heading", name="Your account").wait_for()
    sign_in(page, site.url, "two.browsers@example.com", PASSWORD)
    page.get_by_role("heading", name="Your account").wait_for()

    open_account_page(page, "Sessions")
    rows = page.get_by_test_id("session-row")
    assert rows.count() == 2
    assert rows.filter(has_text="This browser").count() == 1
    rows.filter(has_not_text="This browser").get_by_role("button", name="Sign out").click()
    page.get_by_text("The session was signed out.").wait_for()
    assert page.get_by_test_id("session-row").count() == 1

    other.goto(f"{site.url}/account/")
    other.get_by_role("heading", name="Sign In").wait_for()
    assert "/accounts/login/" in other.url
    # This browser is still signed in.
    page.goto(f"{site.url}/account/")
    page.get_by_role("heading", name="Your account").wait_for()
    screenshot(page, "journey6-sessions")
