"""The "Reports" pages: ask for a report, list them, and read one with a chart per figure.

Every decision is ``console.reports.services``': the scopes offered are those the caller
may report on, a report the caller may not see is a 404, the CSV goes through the same
check as the API's download.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.views import add_domain_error
from config.errors import DomainError, NotFound
from console.reports import charts, services
from console.reports.forms import ReportRequestForm
from console.reports.models import Report
from orgs.models import Organization, Team

LIST_SIZE = 50


def _scope_choices(user) -> list[tuple[str, str]]:
    organizations, teams = services.reporting_scopes(user)
    choices: list[tuple[str, str]] = []
    orgs = Organization.objects.filter(pk__in=organizations).order_by("name")
    for org in orgs:
        choices.append((f"{org.pk}:", _("%(org)s (whole organization)") % {"org": org.name}))
    team_rows = (
        Team.objects.filter(Q(pk__in=teams) | Q(organization_id__in=organizations))
        .select_related("organization")
        .order_by("organization__name", "name")
    )
    for team in team_rows:
        choices.append(
            (f"{team.organization_id}:{team.pk}", f"{team.organization.name} · {team.name}")
        )
    return choices


@login_required
@never_cache
def report_list(request: HttpRequest) -> HttpResponse:
    scopes = _scope_choices(request.user)
    form = ReportRequestForm(request.POST or None, scopes=scopes)
    if request.method == "POST" and form.is_valid():
        organization_id, team_id = form.scope_ids()
        data = form.cleaned_data
        try:
            report = services.report_create(
                actor=request.user,
                organization_id=organization_id,
                team_id=team_id,
                report_type=data["report_type"],
                period=data["period"],
                since=data["since"] if data["period"] == "custom" else None,
                until=data["until"] if data["period"] == "custom" else None,
                format=data["format"],
                include_trends=data["include_trends"]
                and data["report_type"] != Report.Type.ACCESS_REVIEW,
                request=request,
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            return redirect("reports-detail", report_id=report.pk)
    reports = services.reports_visible_to(request.user).order_by("-created_at", "id")[:LIST_SIZE]
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "reports/list.html",
        {"form": form, "reports": reports, "may_ask": bool(scopes)},
        status=status,
    )


def _visible(request: HttpRequest, report_id) -> Report:
    try:
        return services.report_visible(request.user, report_id)
    except NotFound:
        raise Http404 from None


@login_required
@never_cache
def report_detail(request: HttpRequest, report_id) -> HttpResponse:
    report = _visible(request, report_id)
    result = report.result or {}
    context = {
        "report": report,
        "result": result,
        "charts": charts.charts_for(result) if report.status == Report.Status.READY else [],
        "verification": services.report_verify(report=report)
        if report.status == Report.Status.READY
        else None,
    }
    return render(request, "reports/detail.html", context)


@login_required
def report_download(request: HttpRequest, report_id) -> HttpResponse:
    report = _visible(request, report_id)
    path = services.report_file(report)
    if report.status != Report.Status.READY or path is None or not path.exists():
        raise Http404
    services.report_downloaded(report=report, actor=request.user, request=request)
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"roster-report-{report.id}.csv",
        content_type="text/csv; charset=utf-8",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
