"""A display name and a slot name of ``<script>alert(1)</script>`` render as text on every
account page and in the admin; no script runs (the CSP would also refuse inline scripts)."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from slots import services as slot_services
from slots.models import SlotType
from tests.factories import UserFactory
from tests.pages.conftest import browser_login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOAD = "<script>alert(1)</script>"


@pytest.fixture
def dialogs(page):
    seen = []
    page.on("dialog", lambda dialog: seen.append(dialog.message))
    return seen


def assert_text_not_markup(page, url: str, dialogs: list, *, expect_visible: bool = True):
    page.goto(url)
    page.wait_for_load_state("load")
    inline = "script:not([src]):not([type='application/json'])"
    count = page.evaluate(f"() => document.querySelectorAll({inline!r}).length")
    assert count == 0, url
    if expect_visible:
        assert page.get_by_text(PAYLOAD).first.is_visible(), url
    assert not dialogs, (url, dialogs)


def test_names_render_as_text_on_account_pages(page, site, dialogs):
    user = UserFactory(email="xss@example.com", display_name=PAYLOAD)
    slot = slot_services.slot_create(owner=user, type="workspace", name=PAYLOAD, actor=user)
    # Admin-typed text shown to members: a slot type's name and its schema's descriptions.
    slot_type = SlotType.objects.get(key="workspace")
    slot_type.name = PAYLOAD
    slot_type.config_schema["properties"]["cpu"]["description"] = PAYLOAD
    slot_type.save()
    browser_login(page, site.url, user)
    with_name = [
        reverse("slot-create", args=["workspace"]),
        reverse("slot-detail", args=[slot.pk]) + "#configure",
        reverse("account-overview"),
        reverse("slots-list"),
        reverse("slot-detail", args=[slot.pk]),
        reverse("account-security-log"),
    ]
    for path in with_name:
        assert_text_not_markup(page, site.url + path, dialogs)
    # The profile form holds it as a value, not markup.
    page.goto(site.url + reverse("account-profile"))
    assert page.get_by_label("Display name").input_value() == PAYLOAD
    others = [
        reverse("account-settings"),
        reverse("account-api-keys"),
        reverse("account-sessions"),
        reverse("usage-overview"),
        reverse("account-data"),
        reverse("account_email"),
        reverse("account_change_password"),
        reverse("mfa_index"),
        reverse("socialaccount_connections"),
        reverse("usersessions_list"),
    ]
    for path in others:
        # The header greets the user by display name on every page.
        assert_text_not_markup(page, site.url + path, dialogs)
    screenshot(page, "xss-account-pages")


def test_names_render_as_text_in_the_admin(page, site, dialogs):
    victim = UserFactory(email="victim@example.com", display_name=PAYLOAD)
    slot = slot_services.slot_create(owner=victim, type="workspace", name=PAYLOAD, actor=victim)
    admin = UserFactory(email="root@example.com", roles=["admin"], is_superuser=True)
    browser_login(page, site.url, admin)
    created = AuditEvent.objects.filter(action="slot.created").latest("occurred_at")
    # The dashboard shows figures, no names: only check that nothing became markup there.
    for path in [reverse("admin:index"), reverse("admin:audit_auditevent_changelist")]:
        assert_text_not_markup(page, site.url + path, dialogs, expect_visible=False)
    for path in [
        reverse("admin:accounts_user_changelist"),
        reverse("admin:slots_slot_changelist"),
        reverse("admin:slots_slot_change", args=[slot.pk]),
        reverse("admin:audit_auditevent_change", args=[created.pk]),
    ]:
        assert_text_not_markup(page, site.url + path, dialogs)
    # The user's own page holds it as a form value (and in lists), never as markup.
    assert_text_not_markup(
        page,
        site.url + reverse("admin:accounts_user_change", args=[victim.pk]),
        dialogs,
        expect_visible=False,
    )
    assert page.locator("input[name=display_name]").input_value() == PAYLOAD
    assert not dialogs
    screenshot(page, "xss-admin")
