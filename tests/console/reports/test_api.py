"""/api/v1/reports through every door, per role; precise 400s with nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from audit.models import AuditEvent
from console.reports.models import Report
from tests.console.reports.conftest import assert_error, jwt_client, key_client
from tests.factories import UserFactory

URL = "/api/v1/reports"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def body(world, **extra):
    return {
        "report_type": "team_performance",
        "organization": str(world.org.pk),
        "period": "weekly",
        **extra,
    }


def ask(client, payload, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(URL, payload, format="json")


def test_reports_anonymous_is_401(anon_client, world):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(URL, body(world), format="json").status_code == 401


def test_manager_reports_on_the_team_they_lead(world, django_capture_on_commit_callbacks):
    client = jwt_client(world.manager)
    response = ask(client, body(world, team=str(world.core.pk)), django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending"
    report_id = response.json()["id"]
    detail = client.get(f"{URL}/{report_id}").json()
    assert detail["status"] == "ready"  # computed by the task (eager in tests)
    assert detail["team"] == str(world.core.pk)
    assert detail["parameters"]["since"] == "2026-12-01"
    assert detail["download_url"] is None
    assert len(detail["sha256"]) == 64
    assert {f["key"] for f in detail["result"]["figures"]} >= {"members", "sign_ins"}
    listed = client.get(URL).json()
    assert [r["id"] for r in listed["results"]] == [report_id]
    actions = list(
        AuditEvent.objects.filter(target_id=report_id)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["console.report.requested", "console.report.generated"]


def test_manager_may_not_report_on_other_teams_or_the_organization(world):
    client = jwt_client(world.manager)
    assert_error(
        client.post(URL, body(world, team=str(world.other.pk)), format="json"),
        403,
        "permission_denied",
    )
    assert_error(client.post(URL, body(world), format="json"), 403, "permission_denied")
    assert not Report.objects.exists()


@pytest.mark.parametrize("role", ["member", "spare"])
def test_plain_members_may_not_report(world, role):
    client = jwt_client(world.person(role))
    assert_error(
        client.post(URL, body(world, team=str(world.core.pk)), format="json"),
        403,
        "permission_denied",
    )
    assert not Report.objects.exists()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_organization_admins_report_on_the_organization_and_any_team(
    world, role, django_capture_on_commit_callbacks
):
    client = jwt_client(world.person(role))
    assert ask(client, body(world), django_capture_on_commit_callbacks).status_code == 202
    assert (
        ask(
            client, body(world, team=str(world.other.pk)), django_capture_on_commit_callbacks
        ).status_code
        == 202
    )


def test_platform_admin_reports_on_any_organization(world, django_capture_on_commit_callbacks):
    root = UserFactory(email="root@example.com", roles=["admin"])
    response = ask(jwt_client(root), body(world), django_capture_on_commit_callbacks)
    assert response.status_code == 202
    assert jwt_client(root).get(URL).json()["count"] == 1


def test_outsider_sees_no_organization_and_no_report(world, django_capture_on_commit_callbacks):
    report_id = ask(
        jwt_client(world.owner), body(world), django_capture_on_commit_callbacks
    ).json()["id"]
    outsider = jwt_client(world.outsider)
    assert_error(outsider.post(URL, body(world), format="json"), 404, "not_found")
    assert outsider.get(f"{URL}/{report_id}").status_code == 404
    assert outsider.get(f"{URL}/{report_id}/verify").status_code == 404
    assert outsider.get(URL).json()["results"] == []


def test_others_reports_are_404_to_a_manager(world, django_capture_on_commit_callbacks):
    org_wide = ask(jwt_client(world.owner), body(world), django_capture_on_commit_callbacks).json()[
        "id"
    ]
    other_team = ask(
        jwt_client(world.owner),
        body(world, team=str(world.other.pk)),
        django_capture_on_commit_callbacks,
    ).json()["id"]
    core = ask(
        jwt_client(world.owner),
        body(world, team=str(world.core.pk)),
        django_capture_on_commit_callbacks,
    ).json()["id"]
    manager = jwt_client(world.manager)
    assert manager.get(f"{URL}/{org_wide}").status_code == 404
    assert manager.get(f"{URL}/{other_team}").status_code == 404
    assert manager.get(f"{URL}/{core}").status_code == 200  # could have asked for it
    assert [r["id"] for r in manager.get(URL).json()["results"]] == [core]
    member = jwt_client(world.member)
    assert member.get(f"{URL}/{core}").status_code == 404


def test_team_of_another_organization_is_404(world, django_capture_on_commit_callbacks):
    from orgs.services import organizations, teams

    elsewhere = organizations.org_create(name="Elsewhere", slug="elsewhere", actor=world.owner)
    team = teams.team_create(organization=elsewhere, actor=world.owner, name="Far")
    response = jwt_client(world.owner).post(URL, body(world, team=str(team.pk)), format="json")
    assert_error(response, 404, "not_found", "team")


def test_api_key_needs_the_orgs_scopes(world, django_capture_on_commit_callbacks):
    reader = key_client(world.owner, ["orgs:read"])
    assert_error(reader.post(URL, body(world), format="json"), 403, "insufficient_scope")
    writer = key_client(world.owner, ["orgs:read", "orgs:write"])
    assert ask(writer, body(world), django_capture_on_commit_callbacks).status_code == 202
    assert reader.get(URL).json()["count"] == 1
    # A key never does more than its owner: the manager's key cannot report on the org.
    managers = key_client(world.manager, ["orgs:read", "orgs:write"])
    assert_error(managers.post(URL, body(world), format="json"), 403, "permission_denied")


TODAY = date(2026, 12, 7)


@pytest.mark.parametrize(
    ("extra", "status", "attr", "code"),
    [
        (
            {"period": "custom", "since": "2026-12-01", "until": "2026-12-08"},
            400,
            "until",
            "period_in_future",
        ),
        (
            {"period": "custom", "since": "2027-01-01", "until": "2027-01-02"},
            400,
            "until",
            "period_in_future",
        ),
        (
            {"period": "custom", "since": "2025-12-06", "until": "2026-12-07"},
            400,
            "since",
            "period_too_long",
        ),
        (
            {"period": "custom", "since": "2026-12-05", "until": "2026-12-01"},
            400,
            "since",
            "invalid_range",
        ),
        ({"period": "custom", "since": "2026-12-01"}, 400, "until", "required"),
        ({"period": "weekly", "since": "2026-12-01"}, 400, "since", "not_allowed"),
        ({"period": "yearly"}, 400, "period", "invalid_choice"),
        (
            {"period": "custom", "since": "2026-12-01T00:00:00Z", "until": "2026-12-02"},
            400,
            "since",
            "invalid",
        ),
        ({"report_type": "forecast"}, 400, "report_type", "invalid_choice"),
        ({"metrics": ["members", "revenue"]}, 400, "metrics.1", "invalid_choice"),
        ({"metrics": []}, 400, "metrics", "empty"),
        ({"report_type": "access_review", "metrics": ["members"]}, 400, "metrics", "not_allowed"),
        (
            {"report_type": "access_review", "include_trends": True},
            400,
            "include_trends",
            "not_allowed",
        ),
        ({"include_trends": "true"}, 400, "include_trends", "invalid"),
        ({"format": "pdf"}, 400, "format", "invalid_choice"),
        ({"organization": "not-a-uuid"}, 400, "organization", "invalid"),
        ({"colour": "red"}, 400, "colour", "unknown_field"),
    ],
)
def test_bad_input_is_a_precise_error_and_writes_nothing(world, extra, status, attr, code):
    response = jwt_client(world.owner).post(URL, body(world, **extra), format="json")
    assert_error(response, status, code, attr)
    assert not Report.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="console.report.").exists()


def test_one_year_custom_period_is_accepted(world, django_capture_on_commit_callbacks):
    payload = body(world, period="custom", since="2025-12-07", until="2026-12-07")
    assert (
        ask(jwt_client(world.owner), payload, django_capture_on_commit_callbacks).status_code == 202
    )


def test_csv_report_downloads_through_the_checked_endpoint(
    world, django_capture_on_commit_callbacks
):
    client = jwt_client(world.manager)
    payload = body(world, team=str(world.core.pk), format="csv", include_trends=True)
    report_id = ask(client, payload, django_capture_on_commit_callbacks).json()["id"]
    detail = client.get(f"{URL}/{report_id}").json()
    assert detail["download_url"].endswith(f"/api/v1/reports/{report_id}/download")
    response = client.get(f"{URL}/{report_id}/download")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["ETag"] == f'"{Report.objects.get(pk=report_id).file_sha256}"'
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0] == "key,label,value,unit,previous,difference,percentage"
    assert "members,Members,3," in text
    assert jwt_client(world.spare).get(f"{URL}/{report_id}/download").status_code == 404
    assert (
        AuditEvent.objects.filter(action="console.report.downloaded", target_id=report_id).count()
        == 1
    )


def test_download_of_a_json_report_is_409(world, django_capture_on_commit_callbacks):
    client = jwt_client(world.owner)
    report_id = ask(client, body(world), django_capture_on_commit_callbacks).json()["id"]
    assert_error(client.get(f"{URL}/{report_id}/download"), 409, "not_ready")


def test_list_queries_are_bounded(
    world, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    client = jwt_client(world.owner)
    for _ in range(3):
        ask(client, body(world), django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(20) as captured:
        client.get(URL)
    first = len(captured.captured_queries)
    for _ in range(5):
        ask(client, body(world, team=str(world.core.pk)), django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(first):
        assert client.get(URL).json()["count"] == 8


def test_unknown_report_id_is_404(world):
    client = jwt_client(world.owner)
    assert client.get(f"{URL}/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get(f"{URL}/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "report",
        None,
        {"report_type": None, "organization": None, "period": None},
        {"report_type": "usage", "organization": 12345, "period": "daily"},
        {"report_type": "usage", "organization": "x" * 5000, "period": "daily"},
        {"report_type": ["usage"], "organization": {}, "period": 1},
        {"report_type": "usage", "period": "custom", "since": 20261201, "until": True},
        {"report_type": "usage", "period": "custom", "since": "0001-01-01", "until": "9999-12-31"},
        {"report_type": "usage", "period": "daily", "metrics": "members"},
        {"report_type": "usage", "period": "daily", "metrics": [None, 1, {}]},
        {"report_type": "usage", "period": "daily", "metrics": ["members"] * 50},
        {"report_type": "usage", "period": "daily", "team": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_odd_bodies_are_4xx_never_500(world, payload):
    if isinstance(payload, dict) and "organization" not in payload:
        payload = {**payload, "organization": str(world.org.pk)}
    response = jwt_client(world.owner).post(URL, payload, format="json")
    assert 400 <= response.status_code < 500, response.content[:500]
    assert response.json()["errors"]
    assert not Report.objects.exists()
