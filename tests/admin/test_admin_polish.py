"""The admin under Roster's CSP: the export page's "Select all" works with no inline script."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import browser_login, new_page  # noqa: F401


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_export_select_all_works_under_the_csp(new_page, site):  # noqa: F811
    from tests.factories import UserFactory

    admin = UserFactory(email="exporter@example.com", is_staff=True, is_superuser=True)
    page = new_page()
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: "script-src" in m.text and blocked.append(m.text),
    )
    page.on("pageerror", lambda exc: blocked.append(str(exc)))
    browser_login(page, site.url, admin)
    page.goto(f"{site.url}/admin/accounts/user/export/")
    toggle = page.locator("input.select-toggle")
    expect(toggle).to_be_checked()
    fields = page.locator(".selectable-field-export-row:visible input[type=checkbox]")
    assert fields.count() >= 2
    toggle.uncheck()
    for box in fields.all():
        expect(box).not_to_be_checked()
    toggle.check()
    for box in fields.all():
        expect(box).to_be_checked()
    assert not blocked, blocked
