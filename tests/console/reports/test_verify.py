"""A report's digest is recorded in the audit log; verify finds any change made afterwards."""

from __future__ import annotations

from console.reports import services
from console.reports.models import Report
from tests.console.reports.conftest import jwt_client

URL = "/api/v1/reports"


def test_verify_untouched_report(world, generate):
    report = generate(world.owner, world.org)
    response = jwt_client(world.owner).get(f"{URL}/{report.pk}/verify")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["checks"] == {"result": True, "parameters": True, "as_of": True}
    assert body["recorded"]["sha256"] == report.sha256 == body["sha256"]


def test_verify_finds_a_tampered_result(world, generate):
    report = generate(world.owner, world.org)
    result = report.result
    result["figures"][0]["value"] += 10
    Report.objects.filter(pk=report.pk).update(result=result)
    body = jwt_client(world.owner).get(f"{URL}/{report.pk}/verify").json()
    assert body["ok"] is False
    assert body["checks"]["result"] is False
    assert "result" in body["detail"]


def test_verify_finds_tampered_parameters_and_digest(world, generate):
    report = generate(world.owner, world.org)
    parameters = {**report.parameters, "since": "2026-01-01"}
    result = {**report.result, "figures": []}
    Report.objects.filter(pk=report.pk).update(
        parameters=parameters, result=result, sha256=services.digest(result)
    )
    check = services.report_verify(report=Report.objects.get(pk=report.pk))
    # The stored digest was rewritten to match, but the audit log keeps the original.
    assert check["checks"]["result"] is False
    assert check["checks"]["parameters"] is False


def test_verify_finds_a_changed_csv_file(world, generate):
    report = generate(world.owner, world.org, format="csv")
    assert services.report_verify(report=report)["checks"]["file"] is True
    path = services.report_file(report)
    path.write_bytes(path.read_bytes().replace(b"Members,6", b"Members,60"))
    assert services.report_verify(report=report)["checks"]["file"] is False


def test_verify_of_a_pending_report_is_not_ok(world):
    report = services.report_create(
        actor=world.owner,
        organization_id=world.org.pk,
        report_type="usage",
        period="daily",
        run=False,
    )
    check = services.report_verify(report=report)
    assert check["ok"] is False and check["recorded"] is None


def test_run_twice_computes_once(world, generate):
    report = generate(world.owner, world.org)
    again = services.report_run(report_id=report.pk)
    assert again.sha256 == report.sha256 and again.as_of == report.as_of
    from audit.models import AuditEvent

    assert (
        AuditEvent.objects.filter(
            action="console.report.generated", target_id=str(report.pk)
        ).count()
        == 1
    )
