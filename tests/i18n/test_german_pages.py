"""The pages of Access, Support, Reports and Notifications read German for a German user:
``lang="de"`` and no visible text equal to one of Roster's English msgids. Every person of
the organization reads German; each page is seen by someone it shows something to."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from access.services import requests as access_requests
from access.services import resources
from console.reports import services as reports
from notifications.models import Notification
from notifications.services import notify
from orgs.models import Role, Team
from support.services import ticket_create
from tests.i18n.test_german import english_left
from tests.orgs.conftest import World, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def german_world(world: World, settings, tmp_path, django_capture_on_commit_callbacks):  # noqa: F811
    settings.VAR_DIR = tmp_path
    for person in (world.owner, world.admin, world.manager, world.member):
        person.locale = "de"
        person.save(update_fields=["locale"])
    resources.resource_create(
        organization=world.org,
        actor=world.owner,
        key="production-db",
        name="Production database",
        levels=["read", "write"],
        approvers={"roles": ["admin"], "teams": [], "users": [str(world.manager.pk)]},
        max_duration_days=14,
        auto_approve_levels=[],
    )
    with django_capture_on_commit_callbacks(execute=True):
        world.request = access_requests.request_submit(
            organization=world.org,
            requester=world.member,
            resource="production-db",
            access_level="write",
            justification="Migrate the billing tables",
            duration_days=7,
        )
        world.ticket = ticket_create(
            requester=world.member,
            category="technical",
            subject="Cannot sign in",
            description="The code is refused.",
        )
        notify(world.member, "support_reply", "Antwort", "Wir haben geantwortet.")
        report = reports.report_create(
            actor=world.manager,
            organization_id=world.org.pk,
            team_id=world.core.pk,
            report_type="team_performance",
            period="weekly",
            include_trends=True,
            run=False,
        )
        world.report = reports.report_run(report_id=report.pk)
    return world


def pages(w) -> list[tuple[str, str]]:
    org = w.org.pk
    return [
        ("member", reverse("access-home")),
        ("member", reverse("access-request-new")),
        ("member", reverse("access-request", args=[w.request.pk])),
        ("manager", reverse("access-reviews")),
        ("manager", reverse("access-request", args=[w.request.pk])),
        ("owner", reverse("org-access-resources", args=[org])),
        ("owner", reverse("org-access-resource", args=[org, "production-db"])),
        ("owner", reverse("org-access-grants", args=[org])),
        ("member", reverse("org-access-policies", args=[org])),
        ("member", reverse("support-home")),
        ("member", reverse("support-open-page")),
        ("member", reverse("support-ticket-page", args=[w.ticket.pk])),
        ("member", reverse("notifications-list")),
        ("member", reverse("notifications-list") + "?unread=1"),
        ("manager", reverse("notifications-send-page")),
        ("member", reverse("notifications-send-page")),
        ("member", reverse("reports-home")),
        ("manager", reverse("reports-home")),
        ("manager", reverse("reports-detail", args=[w.report.pk])),
    ]


def stored_words(w) -> set[str]:
    """Texts stored when they were written, shown as data: role and team names (the
    approving choices), notification titles (the sender's words, also after "Mark read: ")
    and report figure labels (sealed in the report's result)."""
    roles = set(Role.objects.values_list("name", flat=True))
    teams = set(Team.objects.values_list("name", flat=True))
    titles = set(Notification.objects.values_list("title", flat=True))
    figures = {f["label"] for f in w.report.result["figures"]}
    return (
        roles
        | teams
        | titles
        | {f": {t}" for t in titles}
        | figures
        | {f"{label}:" for label in figures}
        | {f"{label} pro UTC-Tag." for label in figures}
    )


def test_access_support_reports_and_notifications_pages_are_german(german_world):
    data = stored_words(german_world)
    seen = []
    for who, url in pages(german_world):
        client = Client()
        client.force_login(german_world.person(who))
        response = client.get(url)
        assert response.status_code in (200, 403), (url, response.status_code)
        html = response.content.decode()
        assert '<html lang="de"' in html, url
        seen.append((who, url, [t for t in english_left(html) if t not in data]))
    left = [s for s in seen if s[2]]
    assert left == [], "\n".join(map(str, left))
