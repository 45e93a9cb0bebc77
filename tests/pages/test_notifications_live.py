"""The bell and the notifications list update live: Chromium on Roster's own web process (the
Procfile's ``web``: HTTP and WebSocket on one port), an access request made by another
process for the signed-in approver (tests/pages/notifications_live_side.py), once on the
embedded defaults (the web process polls the database) and once on Redis (the channel layer).
The page's script runs under the site's Content-Security-Policy; without JavaScript the same
pages show the same count on each load.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.servers import procfile_web, run_side

pytestmark = pytest.mark.browser

SIDE = Path(__file__).with_name("notifications_live_side.py")
# The contract says 2 s from the row to the socket; the browser, the side process's start
# and a busy test machine get the rest.
LIVE_MS = 8_000


def _side(env: dict, *args: str) -> dict:
    return run_side(SIDE, env, *args)


@pytest.fixture(scope="module", params=["embedded", "redis"])
def server(request, tmp_path_factory):
    var = tmp_path_factory.mktemp("live")
    with procfile_web(
        var, workers=1, redis=request.param == "redis", prepare=lambda env: _side(env, "setup")
    ) as served:
        base, env, made = served
        yield {"base": base, "env": env, **made}


def _context(browser, server, **options):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, **options)
    context.add_cookies(
        [
            {
                "name": server["cookie_name"],
                "value": server["cookie"],
                "url": server["base"],
                "httpOnly": True,
            }
        ]
    )
    return context


def test_bell_and_list_update_live_when_an_access_request_arrives(browser, server):
    context = _context(browser, server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda m: problems.append(m.text)
        if m.type == "error" and "Content Security Policy" in m.text
        else None,
    )
    base = server["base"]
    try:
        page.goto(f"{base}/account/")
        bell = page.get_by_test_id("notification-bell")
        count = bell.locator("[data-unread-count]")
        expect(count).to_have_text("0")
        expect(bell).to_have_attribute("data-live", "connected")

        # Bob asks for access; Ada (the approver) sees the bell change without reloading.
        _side(server["env"], "request", "read")
        expect(count).to_have_text("1", timeout=LIVE_MS)
        expect(page.get_by_role("link", name="Notifications 1 unread")).to_be_visible()
        expect(page.locator("[data-notification-announce]")).to_have_text(
            "New notification: Access request to review: production-db"
        )

        # On the list, a new one goes to the top, with its own "Mark read" form.
        bell.click()
        expect(page).to_have_url(f"{base}/account/notifications/")
        items = page.get_by_test_id("notification")
        expect(items).to_have_count(1)
        first_id = items.first.get_attribute("data-notification-id")
        expect(bell).to_have_attribute("data-live", "connected")
        _side(server["env"], "request", "write")
        expect(items).to_have_count(2, timeout=LIVE_MS)
        expect(count).to_have_text("2")
        newest = items.first
        expect(newest).to_contain_text("Access request to review: production-db")
        expect(newest).to_contain_text("Access request to review")  # the kind's label
        expect(newest).to_contain_text("bob@example.com asks for write access")
        assert newest.get_attribute("data-notification-id") != first_id
        # Its time as a reload would show it (the person's format: here the defaults, ISO
        # and 24 hours in UTC), not the browser's own rendering.
        expect(newest.locator('[data-field="when"]')).to_have_text(
            re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$")
        )
        newest.get_by_role("button", name="Mark read").click()
        expect(page).to_have_url(f"{base}/account/notifications/")
        expect(count).to_have_text("1")
        expect(page.get_by_role("button", name="Mark read")).to_have_count(1)
    finally:
        context.close()
    assert not problems, problems

    # Without JavaScript: the same count on each load, and the forms still work.
    plain = _context(browser, server, java_script_enabled=False)
    try:
        page = plain.new_page()
        page.goto(f"{base}/account/notifications/")
        expect(page.get_by_role("link", name="Notifications 1 unread")).to_be_visible()
        page.get_by_test_id("mark-all-read").click()
        expect(
            page.get_by_test_id("notification-bell").locator("[data-unread-count]")
        ).to_have_text("0")
    finally:
        plain.close()
