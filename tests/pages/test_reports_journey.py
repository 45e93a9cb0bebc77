"""Journey: a manager opens Reports from the site navigation, asks for a weekly report on
the team they lead with trends, and reads its figures (computed from the team's sign-ins and
MFA) with a chart for each, checked against the audit log."""

import pytest

from audit.services import record
from tests.mfa import totp_activate
from tests.orgs.conftest import world  # noqa: F401  (the organization with one person per role)
from tests.pages.conftest import browser_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_generates_a_team_report(page, site, world):  # noqa: F811
    # The team Core: the manager (lead), member and spare. 3 sign-ins, 1 failed, 1 of 3 with MFA.
    for person in (world.member, world.member, world.spare):
        record(action="auth.login.succeeded", actor=person, target=person)
    record(action="auth.login.failed", target=world.spare)
    totp_activate(world.member)

    browser_login(page, site.url, world.manager)
    page.goto(f"{site.url}/account/")
    page.get_by_test_id("reports-nav").click()
    page.get_by_role("heading", name="Reports", exact=True).wait_for()
    page.get_by_label("Organization or team").select_option(label="Acme · Core")
    page.get_by_label("Report", exact=True).select_option("team_performance")
    page.get_by_label("Period", exact=True).select_option("weekly")
    page.get_by_label("Compare with the previous period").check()
    page.get_by_role("button", name="Ask for the report").click()

    page.get_by_role("heading", name="Team Performance report").wait_for()
    assert page.get_by_test_id("report-status").inner_text() == "ready"
    values = {
        figure.get_attribute("data-key"): figure.get_by_test_id("figure-value").inner_text()
        for figure in page.get_by_test_id("report-figure").all()
    }
    assert values["members"] == "3"
    assert values["sign_ins"] == "3"
    assert values["failed_sign_ins"] == "1"
    assert values["mfa_coverage"] == "33.3 %"
    assert page.get_by_test_id("report-chart").count() == len(values)
    assert page.locator("[data-testid=report-chart] rect.bar").count() > 0
    page.get_by_test_id("report-verified").wait_for()
    screenshot(page, "reports-team")
    # On a small phone the page does not scroll sideways (charts and the digest fit).
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    page.set_viewport_size({"width": 1100, "height": 900})

    # The report is in the manager's list.
    page.get_by_role("link", name="All reports").click()
    assert page.get_by_test_id("report-row").count() == 1
