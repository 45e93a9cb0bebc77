"""Journey: a member asks for access to a resource; the approver sees the request, approves
it for fewer days than asked, and the member sees the grant; then the organization's owner
tightens the password policy (minimum length) and the member's next password change refuses
a password the platform alone would accept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import AccessRequest, Grant
from access.services import resources
from orgs.services import members, organizations
from tests.pages.conftest import browser_login, screenshot, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "copper-harbour-58-wrens"


def test_access_request_approval_and_policy_journey(page, new_page, site, settings):
    owner = verified_user("owner@northwind.example", PASSWORD)
    approver = verified_user("approver@northwind.example", PASSWORD)
    member = verified_user("member@northwind.example", PASSWORD)
    org = organizations.org_create(name="Northwind", slug="northwind", actor=owner)
    members.member_add(organization=org, actor=owner, user=approver, roles=["admin"])
    members.member_add(
        organization=org, actor=owner, email="member@northwind.example", roles=["member"]
    )
    resources.resource_create(
        organization=org,
        actor=owner,
        key="production-db",
        name="Production database",
        levels=["read", "write"],
        approvers={"roles": ["admin"], "teams": [], "users": []},
        max_duration_days=14,
    )

    # The member asks, from the site navigation, for write access for seven days.
    browser_login(page, site.url, member)
    page.goto(f"{site.url}/account/")
    page.get_by_test_id("access-nav").click()
    page.get_by_role("navigation", name="Access").get_by_role("link", name="Ask for access").click()
    page.get_by_label("Resource").select_option("production-db")
    page.get_by_label("Access level").select_option("write")
    page.get_by_label("Duration (days)").fill("30")
    page.get_by_label("Justification").fill("Migrate the billing tables")
    page.get_by_role("button", name="Send request").click()
    # Too long for the resource: said in words, nothing asked.
    page.get_by_text("At most 14 days for this resource.").wait_for()
    assert AccessRequest.objects.count() == 0
    page.get_by_label("Duration (days)").fill("7")
    page.get_by_role("button", name="Send request").click()
    page.get_by_text("Your request is waiting for approval.").wait_for()
    assert page.get_by_test_id("request-status").inner_text().strip() == "Pending"

    # The approver sees it waiting, and approves it for two days only.
    reviewer = new_page()
    browser_login(reviewer, site.url, approver)
    reviewer.goto(f"{site.url}/account/access/")
    reviewer.get_by_test_id("to-review").get_by_role("link").click()
    row = reviewer.get_by_test_id("review-row").filter(has_text="member@northwind.example")
    assert "production-db" in row.inner_text()
    row.get_by_role("link", name="member@northwind.example").click()
    reviewer.get_by_text("Migrate the billing tables").wait_for()
    reviewer.get_by_label("Approve").check()
    reviewer.get_by_label("Comment").fill("Two days are enough")
    reviewer.get_by_label("Shorter duration (days)").fill("2")
    reviewer.get_by_role("button", name="Record decision").click()
    reviewer.get_by_text("Your review is recorded.").wait_for()
    assert reviewer.get_by_test_id("request-status").inner_text().strip() == "Approved"
    assert "Two days are enough" in reviewer.get_by_test_id("review").inner_text()
    screenshot(reviewer, "access-journey-approved")

    # The member sees the grant, ending in two days.
    page.get_by_role("navigation", name="Access").get_by_role(
        "link", name="My requests & grants"
    ).click()
    grant_row = page.get_by_test_id("grant-row").filter(has_text="production-db")
    assert "write" in grant_row.inner_text() and "Active" in grant_row.inner_text()
    grant = Grant.objects.get()
    assert grant.expires_at - grant.starts_at == timedelta(days=2)
    assert grant.expires_at.strftime("%Y-%m-%d") in grant_row.inner_text()
    assert grant.expires_at > timezone.now() + timedelta(days=1, hours=23)
    screenshot(page, "access-journey-grant")

    # The owner raises the organization's minimum password length.
    admin_page = new_page()
    browser_login(admin_page, site.url, owner)
    admin_page.goto(f"{site.url}/account/organizations/{org.pk}/access/")
    admin_page.get_by_role("navigation", name="Organization access").get_by_role(
        "link", name="Security policies"
    ).click()
    admin_page.get_by_role("link", name="Change the password policy").click()
    admin_page.get_by_label("Min length").fill("5")
    admin_page.get_by_role("button", name="Save policy").click()
    admin_page.get_by_text("may not be weaker than the platform").wait_for()
    admin_page.get_by_label("Min length").fill("24")
    admin_page.get_by_role("button", name="Save policy").click()
    admin_page.get_by_text("The password policy of Northwind is saved.").wait_for()

    # The member's next password change refuses what the platform alone would accept.
    weak = "sixteen-chars-ok1"
    assert len(weak) >= settings.PASSWORD_MIN_LENGTH
    page.goto(f"{site.url}/accounts/password/change/")
    page.get_by_label("Current Password").fill(PASSWORD)
    page.get_by_label("New Password", exact=True).fill(weak)
    page.get_by_label("New Password (again)").fill(weak)
    page.get_by_role("button", name="Change Password").click()
    page.get_by_text("It must contain at least 24 characters.").wait_for()
    strong = "a-much-longer-passphrase-for-northwind"
    page.get_by_label("Current Password").fill(PASSWORD)
    page.get_by_label("New Password", exact=True).fill(strong)
    page.get_by_label("New Password (again)").fill(strong)
    page.get_by_role("button", name="Change Password").click()
    page.get_by_text("Password successfully changed.").wait_for()
    screenshot(page, "access-journey-password")
