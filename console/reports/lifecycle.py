"""A report's requester: told when it is done, and their requests in their data export and
erasure (``accounts.hooks``, registered in ``console.apps``).

- **Notifications**: ``report_ready`` when the Celery task has stored the result,
  ``report_failed`` when it could not be computed, through ``notifications.services.notify``
  in the transaction that marks the report (an aborted run tells nobody). Only the requester
  is told, and only while their account is active. ``report_failed`` goes by email unless
  the user turns it off (it asks them to act); ``report_ready`` only if they turn it on (the
  report page shows the state, and the bell says it live).
- **Export**: the reports the user asked for, as metadata (type, organization, team, the
  parameters understood, format, state, dates, digest). Not the results: those are the
  organization's figures about other people.
- **Erasure**: the reports stay (they are the organization's record, and the audit log
  vouches for their digest); the requester field is emptied, so nothing ties them to the
  erased person any more. An ``access_review`` result lists the role holders and grantees
  by id and by email *as of the report*; when a listed person is erased those entries stay
  as they were: rewriting a generated report would break its digest (``verify``), and the
  review is the evidence of who held access at that time. Organizations delete old access
  reviews under their own retention; Roster does not.
"""

from __future__ import annotations

from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.selectors import timestamp
from console.reports.models import Report
from notifications.kinds import Kind
from notifications.services import notify

_TYPE_NAMES = {
    Report.Type.TEAM_PERFORMANCE: _("Team performance"),
    Report.Type.ACTIVITY_MONITORING: _("Activity monitoring"),
    Report.Type.ACCESS_REVIEW: _("Access review"),
    Report.Type.USAGE: _("Usage"),
}


def _subject(report: Report, template: Any) -> Any:
    """``template`` ("{kind} report for {scope} ...") filled in, translated when written."""
    scope = report.team.name if report.team_id else report.organization.name
    kind = _TYPE_NAMES.get(report.report_type, report.report_type)
    return format_lazy(template, kind=kind, scope=scope)


def report_finished_notify(report: Report) -> None:
    """Tell the requester that ``report`` (just marked ready or failed) is done. Call it in
    the transaction that marks it."""
    user = report.requested_by
    if user is None or not user.is_active:
        return
    data = {"report": str(report.pk), "url": f"/reports/{report.pk}/"}
    if report.status == Report.Status.READY:
        notify(
            user,
            Kind.REPORT_READY,
            _subject(report, _("{kind} report for {scope} is ready")),
            "",
            data=data,
        )
    elif report.status == Report.Status.FAILED:
        notify(
            user,
            Kind.REPORT_FAILED,
            _subject(report, _("{kind} report for {scope} could not be generated")),
            _("Ask for it again; if it fails again, tell your administrator."),
            data=data,
        )


def reports_export_for_user(*, user) -> list[dict[str, Any]]:
    """The export section ``reports``: the reports ``user`` asked for, without results."""
    reports = (
        Report.objects.filter(requested_by_id=user.pk)
        .select_related("organization", "team")
        .order_by("created_at", "id")
    )
    return [
        {
            "id": str(r.pk),
            "report_type": r.report_type,
            "organization": {"id": str(r.organization_id), "name": r.organization.name},
            "team": {"id": str(r.team_id), "name": r.team.name} if r.team_id else None,
            "parameters": r.parameters,
            "format": r.format,
            "status": r.status,
            "created_at": timestamp(r.created_at),
            "generated_at": timestamp(r.generated_at),
            "sha256": r.sha256 or None,
        }
        for r in reports
    ]


def reports_forget_requester(*, user) -> int:
    """The erasure step: the user's requested reports no longer name them."""
    return Report.objects.filter(requested_by_id=user.pk).update(requested_by=None)
