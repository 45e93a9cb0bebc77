"""Journey: a user opens a support ticket with a screenshot (PNG); an agent answers it from
the support console (the admin); the user sees the reply on the ticket's page, is told by the
bell and by email, and downloads the screenshot back unchanged."""

from __future__ import annotations

import pytest

from support.models import Attachment, Ticket
from tests.pages.conftest import browser_login, screenshot, verified_user
from tests.support.conftest import png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "lantern-orchard-71-finches"


def test_support_ticket_with_screenshot_and_staff_reply(page, new_page, site, tmp_path, mailoutbox):
    requester = verified_user("ada@example.com", PASSWORD, display_name="Ada")
    agent = verified_user("sam@example.com", PASSWORD, display_name="Sam", roles=["support"])
    shot = png_bytes(16, 9)

    # The user opens a ticket from the site navigation, with a screenshot.
    browser_login(page, site.url, requester)
    page.goto(f"{site.url}/account/")
    page.get_by_test_id("support-nav").click()
    page.get_by_test_id("support-open").click()
    page.get_by_label("Category").select_option("technical")
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Subject").fill("Export button does nothing")
    page.get_by_label("Description").fill("I click Export and nothing happens.")
    page.get_by_label("Attachment").set_input_files(
        files=[{"name": "screenshot.png", "mimeType": "image/png", "buffer": shot}]
    )
    page.get_by_role("button", name="Open the ticket").click()
    page.get_by_text("is open. We will reply here.").wait_for()
    ticket = Ticket.objects.get()
    assert (ticket.requester_id, ticket.priority) == (requester.pk, "high")
    assert Attachment.objects.get().content_type == "image/png"
    page.get_by_role("link", name="screenshot.png").wait_for()

    # An agent answers from the support console and waits on the user.
    agent_page = new_page()
    browser_login(agent_page, site.url, agent)
    agent_page.goto(f"{site.url}/admin/support/ticket/?priority=high")
    agent_page.get_by_role("link", name="Export button does nothing").click()
    agent_page.get_by_label("Status").select_option("pending")
    agent_page.get_by_label("Reply").fill("Thanks, fixed: please try again.")
    agent_page.get_by_role("button", name="Save", exact=True).click()
    agent_page.get_by_text("was changed successfully").wait_for()

    # The user sees the reply, the new status, and the bell's count.
    page.reload()
    messages = page.get_by_test_id("ticket-messages")
    messages.get_by_text("Thanks, fixed: please try again.").wait_for()
    assert "Sam (support)" in messages.inner_text()
    assert page.get_by_test_id("ticket-status").inner_text().startswith("Pending")
    bell = page.get_by_test_id("notification-bell")
    assert bell.locator("[data-unread-count]").inner_text().strip() == "1"
    # The reply also went by email (support replies are emailed unless the user says not).
    assert any("#1" in m.subject or "Thanks, fixed" in m.body for m in mailoutbox)
    with page.expect_download() as download:
        page.get_by_role("link", name="screenshot.png").click()
    saved = tmp_path / "back.png"
    download.value.save_as(saved)
    assert saved.read_bytes() == shot
    screenshot(page, "support-journey")
