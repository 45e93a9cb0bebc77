"""Reports in the console: read-only, with the check against the audit log on each one.

Reports are asked for through the API or the "Reports" page (where the scope rule
applies); here platform admins read every report and see whether it still matches the
digest recorded when it was generated.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from audit.admin_mixins import ReadOnlyModelAdmin
from console.reports import services
from console.reports.models import Report


@admin.register(Report)
class ReportAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "report_type",
        "organization",
        "team",
        "status",
        "format",
        "requested_by",
        "created_at",
        "as_of",
    )
    list_filter = ("report_type", "status", "format")
    search_fields = ("organization__name", "organization__slug", "team__name", "=id")
    list_select_related = ("organization", "team", "requested_by")
    fields = (
        "id",
        "report_type",
        "organization",
        "team",
        "requested_by",
        "status",
        "format",
        "parameters_display",
        "created_at",
        "generated_at",
        "as_of",
        "sha256",
        "verification",
        "page",
        "result_display",
    )
    readonly_fields = fields

    @admin.display(description="parameters")
    def parameters_display(self, obj: Report) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.parameters, indent=2, sort_keys=True))

    @admin.display(description="result")
    def result_display(self, obj: Report) -> str:
        if obj.result is None:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(obj.result, indent=2, sort_keys=True))

    @admin.display(description="matches the audit log")
    def verification(self, obj: Report) -> str:
        if obj.status != Report.Status.READY:
            return "—"
        check = services.report_verify(report=obj)
        return format_html(
            "<strong data-testid='admin-report-verify'>{}</strong> {}",
            "yes" if check["ok"] else "NO",
            "" if check["ok"] else check["detail"],
        )

    @admin.display(description="charts")
    def page(self, obj: Report) -> str:
        return format_html(
            "<a href='{}'>Open the report page</a>", reverse("reports-detail", args=[obj.pk])
        )
