"""A report's requester (console.reports.lifecycle): told when it is ready or failed, their
requests in their data export, and what an erasure does to reports."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client as WebClient

from accounts.export import user_export
from accounts.services.erasure import user_erase, user_request_erasure
from console.reports import figures, services, tasks
from console.reports.models import Report
from notifications.models import Notification
from tests.console.reports.conftest import jwt_client, key_client

URL = "/api/v1/reports"


def _report_notes():
    return Notification.objects.filter(kind__startswith="report_")


def _erase(person) -> None:
    user_request_erasure(user=person, actor=person)
    person.refresh_from_db()
    assert user_erase(user_id=person.pk, now=person.erasure_due_at) is True


def _broken(monkeypatch):
    def broken(self, metrics):
        raise RuntimeError("boom")

    monkeypatch.setattr(figures.Calculator, "figures", broken)


def test_the_requester_is_told_when_the_task_finishes(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = jwt_client(world.manager).post(
            URL,
            {
                "report_type": "team_performance",
                "organization": str(world.org.pk),
                "team": str(world.core.pk),
                "period": "weekly",
            },
            format="json",
        )
    assert response.status_code == 202
    note = Notification.objects.get(kind="report_ready")
    assert note.user_id == world.manager.pk
    assert note.title == "Team performance report for Core is ready"
    assert note.data == {
        "report": response.json()["id"],
        "url": f"/reports/{response.json()['id']}/",
    }
    # Nobody else hears of it; a ready report is not emailed unless the user asks for that.
    assert _report_notes().count() == 1
    assert mail.outbox == []


def test_through_an_api_key_and_the_page_too(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = key_client(world.owner, ["orgs:read", "orgs:write"]).post(
            URL,
            {"report_type": "usage", "organization": str(world.org.pk), "period": "daily"},
            format="json",
        )
    assert response.status_code == 202, response.json()
    web = WebClient()
    web.force_login(world.manager)
    with django_capture_on_commit_callbacks(execute=True):
        web.post(
            "/reports/",
            {
                "scope": f"{world.org.pk}:{world.core.pk}",
                "report_type": "access_review",
                "period": "weekly",
                "format": "csv",
            },
        )
    ready = Notification.objects.filter(kind="report_ready").order_by("created_at")
    assert [(n.user_id, n.title) for n in ready] == [
        (world.owner.pk, "Usage report for Acme is ready"),
        (world.manager.pk, "Access review report for Core is ready"),
    ]


def test_a_failed_report_is_told_and_emailed(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    _broken(monkeypatch)
    report = services.report_create(
        actor=world.manager,
        organization_id=world.org.pk,
        team_id=world.core.pk,
        report_type="team_performance",
        period="weekly",
        run=False,
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_report.delay(str(report.pk))
    report.refresh_from_db()
    assert report.status == "failed"
    note = _report_notes().get(user=world.manager)
    assert note.kind == "report_failed"
    assert note.title == "Team performance report for Core could not be generated"
    assert [m.to for m in mail.outbox] == [[world.manager.email]]


def test_a_second_run_tells_nobody_again(world, generate):
    report = generate(world.owner, world.org)
    tasks.run_report.delay(str(report.pk))
    assert Notification.objects.filter(kind="report_ready").count() == 1


def test_an_inactive_or_erased_requester_is_not_told(world):
    report = services.report_create(
        actor=world.manager,
        organization_id=world.org.pk,
        team_id=world.core.pk,
        report_type="team_performance",
        period="weekly",
        run=False,
    )
    type(world.manager).objects.filter(pk=world.manager.pk).update(
        status="suspended", is_active=False
    )
    assert services.report_run(report_id=report.pk).status == "ready"
    assert not _report_notes().exists()


def test_the_export_lists_the_requested_reports_without_results(world, generate):
    mine = generate(world.manager, world.org, team_id=world.core.pk, report_type="access_review")
    generate(world.owner, world.org)  # somebody else's
    section = user_export(user=world.manager)["reports"]
    assert len(section) == 1
    entry = section[0]
    assert entry["id"] == str(mine.pk) and entry["report_type"] == "access_review"
    assert entry["organization"] == {"id": str(world.org.pk), "name": "Acme"}
    assert entry["team"] == {"id": str(world.core.pk), "name": "Core"}
    assert entry["status"] == "ready" and entry["sha256"] == mine.sha256
    assert entry["parameters"] == mine.parameters
    assert "result" not in entry
    # The access review lists other people; none of them is in the requester's export.
    assert "spare@example.com" not in str(section)


def test_erasure_unnames_the_requester_and_keeps_the_report(world, generate):
    report = generate(world.manager, world.org, team_id=world.core.pk)
    _erase(world.manager)
    report.refresh_from_db()
    assert report.requested_by_id is None and report.status == "ready"
    assert services.report_verify(report=report)["ok"] is True
    assert Report.objects.filter(requested_by_id=world.manager.pk).count() == 0


def test_an_erased_person_listed_in_an_access_review_stays_as_of_the_report(world, generate):
    report = generate(world.owner, world.org, team_id=world.core.pk, report_type="access_review")
    assert "spare@example.com" in str(report.result)
    _erase(world.spare)
    report.refresh_from_db()
    # The review is the record of who held access then; its digest still vouches for it.
    assert "spare@example.com" in str(report.result)
    assert services.report_verify(report=report)["ok"] is True


@pytest.mark.parametrize("status", ["ready", "failed"])
def test_notify_only_on_the_transition(world, generate, monkeypatch, status):
    if status == "failed":
        _broken(monkeypatch)
    report = generate(world.owner, world.org)
    assert report.status == status
    assert Notification.objects.filter(user=world.owner, kind=f"report_{status}").count() == 1
