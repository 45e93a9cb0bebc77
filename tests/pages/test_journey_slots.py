"""Journey 5, slots: create a slot from its type's form, set credentials (never shown
again), suspend/resume, rename, remove credentials, release it."""

import pytest

from slots.models import Slot
from tests.pages.conftest import open_account_page, screenshot, sign_in, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "amber-harbour-58-owls"
SECRET = "sk-live-4f9a2c7e1b3d8f60aa"


def test_slot_lifecycle_with_credentials(page, site):
    user = verified_user("slots@example.com", PASSWORD)
    sign_in(page, site.url, "slots@example.com", PASSWORD)
    open_account_page(page, "Slots")
    page.get_by_role("link", name="New Workspace").click()

    # The form is built from the type's JSON Schema; the server checks it again.
    page.get_by_label("Name").fill("Research box")
    page.get_by_label("Cpu").fill("64")
    page.get_by_role("button", name="Create slot").click()
    page.get_by_text("Ensure this value is less than or equal to 8.").wait_for()
    page.get_by_label("Cpu").fill("4")
    page.get_by_label("Region").select_option("us-east")
    page.get_by_role("button", name="Create slot").click()
    page.get_by_text("Slot “Research box” created.").wait_for()
    slot = Slot.objects.get(owner=user)
    assert slot.config == {"cpu": 4, "memory_gb": 4, "region": "us-east"}
    assert page.get_by_test_id("slot-status").inner_text() == "Active"

    page.get_by_role("radio", name="API key").check()
    page.locator("#id_api_key").fill(SECRET)
    page.get_by_role("button", name="Save credentials").click()
    page.get_by_text("Credentials saved.").wait_for()
    assert (
        page.get_by_test_id("slot-credentials")
        .inner_text()
        .startswith("API key ending in 60aa, set ")
    )
    assert SECRET not in page.content()
    page.reload()
    assert SECRET not in page.content()
    assert page.locator("#id_api_key").input_value() == ""

    page.get_by_role("button", name="Replace credentials").wait_for()
    screenshot(page, "journey5-slot-detail")
    page.get_by_role("button", name="Suspend").click()
    page.get_by_text("suspended.").wait_for()
    assert page.get_by_test_id("slot-status").inner_text() == "Suspended"
    page.get_by_role("button", name="Resume").click()
    assert page.get_by_test_id("slot-status").inner_text() == "Active"

    page.get_by_label("New name").fill("Research box 2")
    page.get_by_role("button", name="Rename").click()
    page.get_by_role("heading", name="Research box 2").wait_for()

    page.get_by_role("button", name="Remove credentials").click()
    page.get_by_text("Credentials removed.").wait_for()
    assert page.get_by_test_id("slot-credentials").inner_text() == "none"

    page.get_by_role("button", name="Release slot").click()
    page.get_by_text("released.").first.wait_for()
    assert page.get_by_test_id("slot-status").inner_text() == "Released"
    open_account_page(page, "Slots")
    assert page.get_by_test_id("slot-row").count() == 0
    page.get_by_role("link", name="Show released slots").click()
    assert page.get_by_test_id("slot-row").filter(has_text="Research box 2").count() == 1
    screenshot(page, "journey5-slots")
