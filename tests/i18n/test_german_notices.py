"""What Roster writes for a German (or French) reader outside its templates: notifications
stored by services (written in the recipient's language when sent; rows stored before read
as they were written), security policy field labels, an access request's review decisions,
the live notifications' announcement, and the slot admin's counted actions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from access.forms import policy_form_field
from access.models import Review
from access.policies import types
from accounts import notices as account_notices
from notifications.models import Notification
from notifications.services import notify, notify_many
from slots import services as slots
from tests.factories import UserFactory
from tests.i18n.test_german_pages import german_world  # noqa: F401
from tests.orgs.conftest import world  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_service_notification_is_stored_in_each_recipients_language(
    django_capture_on_commit_callbacks,
):
    greta = UserFactory(email="greta@example.com", locale="de")
    claire = UserFactory(email="claire@example.com", locale="fr")
    ann = UserFactory(email="ann@example.com", locale="en")
    title = format_lazy(gettext_lazy("Your access to {resource} ended"), resource="billing")
    with django_capture_on_commit_callbacks(execute=True):
        rows = notify_many([greta, claire, ann], "grant_expired", title, "")
    stored = {n.user_id: n.title for n in Notification.objects.filter(pk__in=[r.pk for r in rows])}
    assert stored == {
        greta.pk: "Ihr Zugriff auf billing ist beendet",
        claire.pk: "Votre accès à billing a pris fin",
        ann.pk: "Your access to billing ended",
    }
    # Whoever triggered it, in whatever language the request was.
    with translation.override("fr"):
        account_notices.password_changed(user=greta, reason="password_reset")
    assert Notification.objects.filter(user=greta).latest("created_at").title == (
        "Ihr Passwort wurde zurückgesetzt"
    )


def test_access_notices_reach_the_approver_in_german_and_old_rows_still_show(german_world):  # noqa: F811
    approver = german_world.manager
    note = Notification.objects.get(user=approver, kind="access_request_to_review")
    assert note.title == "Zugriffsanfrage zu prüfen: production-db"
    assert note.message == (
        "member@example.com bittet um Zugriff (write) auf production-db für 7 Tage."
    )
    # A row stored in English before notifications were written in the reader's language.
    notify(approver, "password_changed", "Your password was changed", "Stored in English.")
    client = Client()
    client.force_login(approver)
    page = client.get(reverse("notifications-list")).content.decode()
    assert "Zugriffsanfrage zu prüfen: production-db" in page
    assert "Your password was changed" in page and "Stored in English." in page
    # The live script's words come from the page, in German.
    assert 'data-announce-text="Neue Benachrichtigung: {title}"' in page


def test_policy_field_labels_and_help_in_german():
    with translation.override("de"):
        field = policy_form_field(types.PASSWORD_FIELDS[0])
        assert str(field.label) == "Mindestlänge"
        assert str(field.help_text) == "Die geringste Zahl an Zeichen, die ein Passwort haben darf."
        labels = [str(f.label) for fields in types.POLICY_TYPES.values() for f in fields]
    with translation.override("en"):
        english = [str(f.label) for fields in types.POLICY_TYPES.values() for f in fields]
    assert all(de != en for de, en in zip(labels, english, strict=True))


def test_policy_edit_page_labels_in_german(german_world):  # noqa: F811
    client = Client()
    client.force_login(german_world.owner)
    url = reverse("org-access-policy", args=[german_world.org.pk, "password"])
    page = client.get(url).content.decode()
    assert "Mindestlänge" in page and "Ziffer verlangen" in page
    assert "<h1>Richtlinie Passwort von Acme</h1>" in page
    assert "Min length" not in page and "Require numbers" not in page


def test_review_decisions_in_german_on_the_request_page(german_world):  # noqa: F811
    request = german_world.request
    Review.objects.create(request=request, reviewer=german_world.admin, action="deny")
    Review.objects.create(
        request=request,
        reviewer=german_world.manager,
        action="delegate",
        delegate_to=german_world.owner,
    )
    client = Client()
    client.force_login(german_world.member)
    page = client.get(reverse("access-request", args=[request.pk])).content.decode()
    assert '<td data-testid="review-decision">Abgelehnt</td>' in page
    assert '<td data-testid="review-decision">Weitergegeben an owner@example.com</td>' in page
    assert ">Deny<" not in page and "Delegate to" not in page


def test_slot_admin_counts_name_the_action_in_german(user_factory, member):
    admin = user_factory(
        email="root@example.com", is_superuser=True, is_staff=True, roles=["admin"], locale="de"
    )
    first = slots.slot_create(owner=member, type="workspace", name="a", config={}, actor=member)
    second = slots.slot_create(owner=member, type="workspace", name="b", config={}, actor=member)
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/slots/slot/",
        {"action": "suspend_slots", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "2 Slots gesperrt." in page
    assert "suspended" not in page.split('class="messagelist"')[1].split("</ul>")[0]


def test_report_figure_labels_translated_when_shown_and_the_digest_still_holds(german_world):  # noqa: F811
    from console.reports.services import report_verify

    report = german_world.report
    labels = {f["key"]: f["label"] for f in report.result["figures"]}
    assert labels["members"] == "Members"  # stored as computed, in English
    client = Client()
    client.force_login(german_world.manager)
    page = client.get(reverse("reports-detail", args=[report.pk])).content.decode()
    assert "<h3>Mitglieder: " in page and "<h3>Members: " not in page
    report.refresh_from_db()
    assert report_verify(report=report)["ok"] is True
