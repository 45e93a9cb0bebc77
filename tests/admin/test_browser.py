"""The admin console in Chromium: sign in, see the dashboard, filter users, run an action."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.factories import UserFactory
from tests.pages.conftest import verified_user

PASSWORD = "a long admin passphrase 42"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_signs_in_filters_users_and_suspends_one(page, site):
    verified_user("console@example.com", PASSWORD, roles=["admin"])
    UserFactory(email="suspend.me@example.com", display_name="Suspend Me")
    UserFactory(email="bystander@example.com", display_name="Bystander")

    # The admin signs in through the account pages (one login policy for every door).
    page.goto(f"{site.url}/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2F$"))
    page.get_by_label("Email").fill("console@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()

    expect(page.locator("#roster-dashboard")).to_be_visible()
    expect(page.locator("#dash-users")).to_contain_text("All users")

    page.goto(f"{site.url}/admin/accounts/user/")
    page.locator("#searchbar").fill("suspend.me")
    page.locator("#searchbar").press("Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("suspend.me@example.com")

    rows.first.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("suspend_users")
    page.get_by_role("button", name="Go").click()

    expect(page.locator("ul.messagelist")).to_contain_text("Suspended: 1 user.")
    assert User.objects.get(email="suspend.me@example.com").status == "suspended"

    page.goto(f"{site.url}/admin/accounts/user/?status__exact=suspended")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("suspend.me@example.com")
    expect(page.locator("#result_list")).not_to_contain_text("bystander@example.com")
