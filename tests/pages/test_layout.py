"""The layout at 360 px wide (a small phone) and keyboard focus: no page scrolls sideways,
every form control has a label, focus is visible."""

import pytest
from django.urls import reverse

from slots import services as slot_services
from tests.factories import UserFactory
from tests.pages.conftest import browser_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]), select, textarea')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.name || el.id)"""


def test_pages_fit_a_small_phone_and_label_every_control(page, site):
    page.set_viewport_size({"width": 360, "height": 740})
    for path in (reverse("account_login"), reverse("account_signup")):
        page.goto(site.url + path)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, path
        assert page.evaluate(UNLABELLED) == [], path

    user = UserFactory(email="small.screen@example.com", display_name="A rather long display name")
    slot = slot_services.slot_create(
        owner=user, type="agent", name="runner", config={"runtime": "node20"}, actor=user
    )
    browser_login(page, site.url, user)
    for path in (
        reverse("account-overview"),
        reverse("account-profile"),
        reverse("account-settings"),
        reverse("account-api-keys"),
        reverse("account-sessions"),
        reverse("slots-list"),
        reverse("slot-detail", args=[slot.pk]),
        reverse("slot-create", args=["agent"]),
        reverse("usage-overview"),
        reverse("account-security-log"),
        reverse("account-data"),
        reverse("mfa_index"),
    ):
        page.goto(site.url + path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, (path, width)
        assert page.evaluate(UNLABELLED) == [], path
    screenshot(page, "layout-360px")


def test_keyboard_focus_is_visible(page, site):
    page.goto(site.url + reverse("account_login"))
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.textContent.trim(), s.outlineStyle, s.outlineWidth]; }"
    )
    assert focused[0] == "Skip to content"
    assert focused[1] != "none" and focused[2] != "0px"
