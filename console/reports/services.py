"""Reports: ask, compute, verify, and who may see them. Every write is audited here.

Who may ask is one rule, ``orgs.permissions.can(user, "reports:read", scope)``, where the
scope is the team (when one is named) or the organization: organization admins and owners
hold it organization-wide, managers only inside the teams they lead, platform admins
everywhere. Who may read a report: who asked for it, and whoever could ask for it now.

The digest (``sha256``) is the SHA-256 of the result's canonical JSON (keys sorted, no
spaces, UTF-8); a CSV report also records the digest of its file. Both, with the
parameters and ``as_of``, are recorded in the audit event ``console.report.generated``;
``report_verify`` recomputes them from what is stored and compares with that event.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from config.errors import Forbidden, Invalid, NotFound
from console.reports import figures, lifecycle, periods
from console.reports.models import Report
from orgs.models import Organization, Team, TeamMembership
from orgs.permissions import can, is_platform_admin
from orgs.selectors import organizations_visible_to

PERMISSION = "reports:read"
GENERATED = "console.report.generated"

logger = logging.getLogger(__name__)


def reports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def report_file(report: Report) -> Path | None:
    if not report.file_name:
        return None
    return reports_dir() / report.file_name


def canonical(result: Any) -> bytes:
    return json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(result: Any) -> str:
    return hashlib.sha256(canonical(result)).hexdigest()


# --- who may ask, who may see -----------------------------------------------------------


def may_report_on(user: Any, organization: Organization, team: Team | None) -> bool:
    return can(user, PERMISSION, team if team is not None else organization)


def reporting_scopes(user: Any) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """``(organization ids, team ids)`` ``user`` may report on now: a few queries per
    organization the user belongs to, never per report."""
    organizations: set[uuid.UUID] = set()
    teams: set[uuid.UUID] = set()
    if is_platform_admin(user):
        # can() gives platform admins every permission in every organization.
        live = Organization.objects.exclude(status=Organization.Status.ARCHIVED)
        return set(live.values_list("pk", flat=True)), teams
    visible = list(organizations_visible_to(user).exclude(status=Organization.Status.ARCHIVED))
    team_rows = TeamMembership.objects.filter(
        user_id=user.pk, team__organization__in=[o.pk for o in visible]
    ).select_related("team", "team__organization")
    for organization in visible:
        if can(user, PERMISSION, organization):
            organizations.add(organization.pk)
    for row in team_rows:
        if row.team.organization_id not in organizations and can(user, PERMISSION, row.team):
            teams.add(row.team_id)
    return organizations, teams


def reports_visible_to(user: Any) -> QuerySet[Report]:
    """Reports ``user`` asked for or could ask for. Platform admins: all."""
    qs = Report.objects.select_related("organization", "team", "requested_by")
    if is_platform_admin(user):
        return qs
    organizations, teams = reporting_scopes(user)
    return qs.filter(
        Q(requested_by_id=user.pk) | Q(organization_id__in=organizations) | Q(team_id__in=teams)
    )


def report_visible(user: Any, report_id: Any) -> Report:
    """The report, or ``NotFound`` when it does not exist or ``user`` may not see it."""
    try:
        report_id = uuid.UUID(str(report_id))
    except ValueError:
        raise NotFound() from None
    report = (
        Report.objects.select_related("organization", "team", "requested_by")
        .filter(pk=report_id)
        .first()
    )
    if report is None:
        raise NotFound()
    if report.requested_by_id == getattr(user, "pk", None):
        return report
    if not may_report_on(user, report.organization, report.team):
        raise NotFound()
    return report


# --- asking -------------------------------------------------------------------------------


def report_create(
    *,
    actor: Any,
    organization_id: Any,
    report_type: str,
    period: str,
    team_id: Any = None,
    since=None,
    until=None,
    metrics: list[str] | None = None,
    format: str = Report.Format.JSON,  # noqa: A002 - the contract's name
    include_trends: bool = False,
    request=None,
    run: bool = True,
) -> Report:
    """Record a pending report and queue its computation (when ``run``)."""
    if report_type not in Report.Type.values:
        raise Invalid("invalid_choice", f"Unknown report type '{report_type}'.", "report_type")
    if format not in Report.Format.values:
        raise Invalid("invalid_choice", f"Unknown format '{format}'.", "format")
    organization, team = _scope(actor, organization_id, team_id)
    resolved = periods.resolve(period=period, since=since, until=until)
    chosen = _metrics(report_type, metrics, include_trends)
    parameters = {
        "report_type": report_type,
        "organization": str(organization.pk),
        "team": str(team.pk) if team is not None else None,
        "period": period,
        **resolved.as_dict(),
        "metrics": chosen,
        "format": format,
        "include_trends": include_trends,
    }
    with transaction.atomic():
        report = Report.objects.create(
            report_type=report_type,
            organization=organization,
            team=team,
            parameters=parameters,
            format=format,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record(
            action="console.report.requested",
            actor=actor,
            target=report,
            request=request,
            changes={"parameters": parameters},
            metadata={"organization_id": str(organization.pk)},
        )
        if run:
            from console.reports import tasks

            transaction.on_commit(lambda: tasks.run_report.delay(str(report.id)))
    return report


def _scope(actor: Any, organization_id: Any, team_id: Any) -> tuple[Organization, Any]:
    """The organization and the team (or None) a report is on, if ``actor`` may report on
    them: 404 for what they may not see, 403 for what they see but may not report on."""
    organization = _organization(actor, organization_id)
    team = None
    if team_id is not None:
        team = _team(organization, team_id)
    if not may_report_on(actor, organization, team):
        if team is None:
            raise Forbidden(
                "permission_denied",
                "You may not report on the whole organization; managers name a team they lead.",
            )
        raise Forbidden("permission_denied", "You may not report on this team.")
    return organization, team


def _organization(actor: Any, organization_id: Any) -> Organization:
    try:
        organization_id = uuid.UUID(str(organization_id))
    except ValueError:
        raise Invalid("invalid", "Not a valid organization id.", "organization") from None
    organization = organizations_visible_to(actor).filter(pk=organization_id).first()
    if organization is None:
        raise NotFound("not_found", "No such organization.", "organization")
    return organization


def _team(organization: Organization, team_id: Any) -> Team:
    try:
        team_id = uuid.UUID(str(team_id))
    except ValueError:
        raise Invalid("invalid", "Not a valid team id.", "team") from None
    team = Team.objects.filter(pk=team_id, organization=organization).first()
    if team is None:
        raise NotFound("not_found", "No such team in this organization.", "team")
    return team


def _metrics(report_type: str, metrics: list[str] | None, include_trends: bool) -> list[str]:
    if report_type == Report.Type.ACCESS_REVIEW:
        if metrics:
            raise Invalid("not_allowed", "An access review lists grants and roles.", "metrics")
        if include_trends:
            raise Invalid(
                "not_allowed", "An access review is a list as of now: no trends.", "include_trends"
            )
        return []
    if metrics is None:
        return list(figures.DEFAULT_METRICS[report_type])
    unknown = [m for m in metrics if m not in figures.METRICS]
    if unknown:
        raise Invalid("invalid_choice", f"Unknown metric '{unknown[0]}'.", "metrics")
    if not metrics:
        raise Invalid("empty", "Name at least one metric, or leave 'metrics' out.", "metrics")
    return [m for m in figures.METRICS if m in metrics]


# --- computing ----------------------------------------------------------------------------


def compute(report: Report, *, as_of) -> dict[str, Any]:
    """The result of ``report``'s parameters, as of ``as_of``."""
    params = report.parameters
    period = periods.Period(
        since=date.fromisoformat(params["since"]),
        until=date.fromisoformat(params["until"]),
    )
    scope = figures.Scope(report.organization, report.team)
    result: dict[str, Any] = {
        "report_type": report.report_type,
        "organization": {"id": str(report.organization_id), "name": report.organization.name},
        "team": (
            {"id": str(report.team_id), "name": report.team.name}
            if report.team is not None
            else None
        ),
        "period": {"kind": params["period"], **period.as_dict()},
        "as_of": figures.iso(as_of),
    }
    if report.report_type == Report.Type.ACCESS_REVIEW:
        result.update(figures.access_review(scope, as_of=as_of))
        return result
    calculator = figures.Calculator(scope, period, trends=params["include_trends"])
    if calculator.previous is not None:
        result["previous_period"] = calculator.previous.as_dict()
    result["figures"] = calculator.figures(params["metrics"])
    return result


def to_csv(result: dict[str, Any]) -> bytes:
    """The result as CSV: one row per figure (or per grant and role holder)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if "figures" in result:
        writer.writerow(["key", "label", "value", "unit", "previous", "difference", "percentage"])
        for f in result["figures"]:
            writer.writerow(
                [_cell(f.get(k)) for k in ("key", "label", "value", "unit")]
                + [_cell(f.get(k)) for k in ("previous", "difference", "percentage")]
            )
    else:
        writer.writerow(["section", "user_id", "email", "resource_or_roles", "level", "until"])
        for g in result["grants"]:
            writer.writerow(
                [
                    "grant",
                    g["user"]["id"],
                    _cell(g["user"]["email"]),
                    _cell(g["resource"]),
                    _cell(g["access_level"]),
                    g["expires_at"],
                ]
            )
        for h in result["role_holders"]:
            writer.writerow(
                [
                    "role_holder",
                    h["user"]["id"],
                    _cell(h["user"]["email"]),
                    " ".join(h["roles"]),
                    "",
                    "",
                ]
            )
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def report_run(*, report_id: Any) -> Report:
    """Compute a pending report. Safe to run twice: only a pending report is computed."""
    report = Report.objects.select_related("organization", "team").get(pk=report_id)
    if report.status != Report.Status.PENDING:
        return report
    as_of = timezone.now().replace(microsecond=0)
    try:
        result = compute(report, as_of=as_of)
        result = json.loads(canonical(result))
        data = to_csv(result) if report.format == Report.Format.CSV else None
    except Exception as exc:
        # A report that cannot be computed is marked failed, not retried: the same data
        # would fail the same way. The error is logged for the operators.
        logger.exception("report %s failed", report.pk)
        return _mark_failed(report, exc)
    file_name, file_sha256 = _write_file(report, data) if data is not None else ("", "")
    sha256 = digest(result)
    with transaction.atomic():
        updated = Report.objects.filter(pk=report.pk, status=Report.Status.PENDING).update(
            status=Report.Status.READY,
            result=result,
            as_of=as_of,
            generated_at=timezone.now(),
            sha256=sha256,
            file_name=file_name,
            file_sha256=file_sha256,
        )
        if updated:
            record(
                action=GENERATED,
                target=report,
                changes={
                    "parameters": report.parameters,
                    "as_of": figures.iso(as_of),
                    "sha256": sha256,
                    "file_sha256": file_sha256 or None,
                },
                metadata={"organization_id": str(report.organization_id)},
            )
            report.refresh_from_db()
            lifecycle.report_finished_notify(report)
    report.refresh_from_db()
    return report


def _mark_failed(report: Report, exc: Exception) -> Report:
    """The pending report fails with the exception's name (audited, its requester told)."""
    with transaction.atomic():
        updated = Report.objects.filter(pk=report.pk, status=Report.Status.PENDING).update(
            status=Report.Status.FAILED, error=type(exc).__name__
        )
        if updated:
            record(
                action="console.report.failed",
                target=report,
                changes={"error": type(exc).__name__},
            )
            report.refresh_from_db()
            lifecycle.report_finished_notify(report)
    report.refresh_from_db()
    return report


def _write_file(report: Report, data: bytes) -> tuple[str, str]:
    """The report's file under the reports folder (written whole, then renamed into place):
    its name and SHA-256."""
    file_name = f"{report.id}.csv"
    path = reports_dir() / file_name
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return file_name, hashlib.sha256(data).hexdigest()


def report_downloaded(*, report: Report, actor: Any, request=None) -> None:
    """Every download of a report's file is on the audit log."""
    with transaction.atomic():
        record(action="console.report.downloaded", actor=actor, target=report, request=request)


# --- checking -----------------------------------------------------------------------------


def report_verify(*, report: Report) -> dict[str, Any]:
    """Recompute the digests of what is stored and compare them with the audit log."""
    event = (
        AuditEvent.objects.filter(action=GENERATED, target_type="report", target_id=str(report.pk))
        .order_by("id")
        .first()
    )
    if report.status != Report.Status.READY or event is None:
        return {
            "ok": False,
            "checks": {},
            "detail": "The report has not been generated: nothing to verify.",
            "recorded": None,
        }
    recorded = event.changes or {}
    actual = digest(report.result)
    checks = {
        "result": actual == recorded.get("sha256") == report.sha256,
        "parameters": canonical(report.parameters) == canonical(recorded.get("parameters")),
        "as_of": figures.iso(report.as_of) == recorded.get("as_of"),
    }
    if recorded.get("file_sha256"):
        path = report_file(report)
        file_ok = path is not None and path.exists()
        if file_ok:
            file_ok = hashlib.sha256(path.read_bytes()).hexdigest() == recorded["file_sha256"]
        checks["file"] = file_ok
    ok = all(checks.values())
    return {
        "ok": ok,
        "checks": checks,
        "detail": "Matches the audit log."
        if ok
        else "Differs from what the audit log recorded at generation: "
        + ", ".join(k for k, v in checks.items() if not v)
        + ".",
        "recorded": {
            "event": str(event.uuid),
            "occurred_at": figures.iso(event.occurred_at),
            "sha256": recorded.get("sha256"),
            "file_sha256": recorded.get("file_sha256"),
            "as_of": recorded.get("as_of"),
        },
        "sha256": actual,
    }
