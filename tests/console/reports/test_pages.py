"""The Reports pages and the admin: the same rules as the API, a chart per figure."""

from __future__ import annotations

from django.test import Client

from console.reports import services
from console.reports.models import Report
from tests.factories import UserFactory


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_reports_page_offers_the_manager_only_their_teams(world):
    html = browser(world.manager).get("/reports/").content.decode()
    assert "Acme · Core" in html
    assert "Acme · Other" not in html
    assert "whole organization" not in html


def test_reports_page_offers_admins_the_organization_and_every_team(world):
    html = browser(world.admin).get("/reports/").content.decode()
    assert "Acme (whole organization)" in html
    assert "Acme · Core" in html and "Acme · Other" in html


def test_reports_page_tells_members_they_cannot_ask(world):
    response = browser(world.member).get("/reports/")
    assert response.status_code == 200
    assert b'data-testid="reports-none"' in response.content
    assert b'data-testid="report-form"' not in response.content


def test_asking_on_the_page_computes_and_shows_a_chart_per_figure(
    world, django_capture_on_commit_callbacks
):
    client = browser(world.manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/reports/",
            {
                "scope": f"{world.org.pk}:{world.core.pk}",
                "report_type": "team_performance",
                "period": "weekly",
                "format": "json",
                "include_trends": "on",
            },
        )
    report = Report.objects.get()
    assert response.status_code == 302 and response.url == f"/reports/{report.pk}/"
    html = client.get(response.url).content.decode()
    assert report.status == "pending" or "report-figure" in html
    report.refresh_from_db()
    assert report.status == "ready"
    figures = len(report.result["figures"])
    slots = sum(1 for f in report.result["figures"] if f["key"].startswith("slots."))
    assert html.count('data-testid="report-chart"') == figures - slots + 1
    assert 'data-testid="report-verified"' in html


def test_page_refuses_a_future_period_with_the_reason(world):
    response = browser(world.admin).post(
        "/reports/",
        {
            "scope": f"{world.org.pk}:",
            "report_type": "usage",
            "period": "custom",
            "since": "2020-01-01",
            "until": "2099-01-01",
            "format": "json",
        },
    )
    assert response.status_code == 400
    assert b"The period ends in the future" in response.content
    assert not Report.objects.exists()


def test_page_refuses_a_scope_not_offered(world):
    response = browser(world.manager).post(
        "/reports/",
        {
            "scope": f"{world.org.pk}:",
            "report_type": "usage",
            "period": "daily",
            "format": "json",
        },
    )
    assert response.status_code == 400
    assert not Report.objects.exists()


def test_others_reports_are_404_on_the_pages(world, generate):
    report = generate(world.owner, world.org, format="csv")
    assert browser(world.owner).get(f"/reports/{report.pk}/").status_code == 200
    assert browser(world.owner).get(f"/reports/{report.pk}/download/").status_code == 200
    for person in (world.manager, world.member, world.outsider):
        assert browser(person).get(f"/reports/{report.pk}/").status_code == 404
        assert browser(person).get(f"/reports/{report.pk}/download/").status_code == 404


def test_tampered_report_is_flagged_on_its_page(world, generate):
    report = generate(world.owner, world.org)
    result = report.result
    result["figures"][0]["value"] = 999
    Report.objects.filter(pk=report.pk).update(result=result)
    html = browser(world.owner).get(f"/reports/{report.pk}/").content.decode()
    assert 'data-testid="report-tampered"' in html


def test_admin_lists_reports_and_checks_each(world, generate):
    root = UserFactory(email="root@example.com", roles=["admin"], is_staff=True, is_superuser=True)
    report = generate(world.owner, world.org)
    client = browser(root)
    listing = client.get("/admin/console/report/")
    assert listing.status_code == 200 and str(report.pk) in listing.content.decode()
    page = client.get(f"/admin/console/report/{report.pk}/change/").content.decode()
    assert "admin-report-verify'>yes" in page
    assert client.get("/admin/console/report/add/").status_code == 403
    services.report_verify(report=report)  # the admin only reads


def test_admin_refuses_people_without_admin_access(world, generate):
    report = generate(world.owner, world.org)
    response = browser(world.owner).get(f"/admin/console/report/{report.pk}/change/")
    assert response.status_code == 302
