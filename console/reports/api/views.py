"""Reports API: /api/v1/reports (``reports:read`` on the scope; API keys: orgs scopes)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.errors import Conflict
from console.reports import services
from console.reports.api.serializers import (
    ReportAcceptedSerializer,
    ReportCreateSerializer,
    ReportSerializer,
    VerificationSerializer,
)
from console.reports.models import Report
from slots.api.views import UUID_PATTERN

WHO = (
    "Organization owners and admins (and custom roles holding `reports:read`) report on the "
    "whole organization or any of its teams, managers only on the teams they lead, platform "
    "admins on any organization."
)


@extend_schema_view(
    list=extend_schema(
        summary="Reports",
        description="Newest first: the reports the caller asked for and those they could "
        "ask for now (their organizations' or teams' reports). Platform admins: all.",
    ),
    retrieve=extend_schema(
        summary="A report",
        description="`result` is null until the report is `ready`. `sha256` is the SHA-256 "
        "of the result's canonical JSON (keys sorted, no spaces, UTF-8). Others' reports "
        "are 404.",
    ),
    create=extend_schema(
        summary="Ask for a report",
        description=(
            "Computed by a Celery worker: 202 with the id to follow. "
            + WHO
            + " An organization the caller cannot see, or a team not of that organization, "
            "is 404; a scope the caller may not report on is 403 `permission_denied`. "
            "Periods are whole UTC days: a custom period ending after today is 400 "
            "`period_in_future`, longer than 366 days 400 `period_too_long`, `since` after "
            "`until` 400 `invalid_range`; `since`/`until` without `period: custom` 400 "
            "`not_allowed`, missing with it 400 `required`. `access_review` takes no "
            "`metrics` and no `include_trends` (400 `not_allowed`). Members, seats, MFA "
            "coverage and slots are the present state and have no trend (previous: null)."
        ),
        request=ReportCreateSerializer,
        responses={202: ReportAcceptedSerializer},
    ),
)
class ReportViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    error_codes = {
        "create": {
            400: [
                "not_allowed",
                "required",
                "invalid_range",
                "period_in_future",
                "period_too_long",
                "empty",
            ],
            404: ["not_found"],
        },
        "download": {409: ["not_ready", "file_missing"]},
    }
    serializer_class = ReportSerializer
    queryset = Report.objects.none()
    required_scopes = ("orgs:read", "orgs:write")
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "head", "options"]

    def perform_content_negotiation(self, request, force=False):
        # The file answers any Accept; an error there is the JSON envelope, never a 406.
        return super().perform_content_negotiation(
            request, force=force or self.action == "download"
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Report.objects.none()
        return services.reports_visible_to(self.request.user).order_by("-created_at", "id")

    def get_object(self):
        report = services.report_visible(self.request.user, self.kwargs["pk"])
        self.check_object_permissions(self.request, report)
        return report

    def create(self, request, *args, **kwargs):
        body = ReportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        report = services.report_create(
            actor=request.user,
            organization_id=data["organization"],
            team_id=data.get("team"),
            report_type=data["report_type"],
            period=data["period"],
            since=data.get("since"),
            until=data.get("until"),
            metrics=data.get("metrics"),
            format=data["format"],
            include_trends=data["include_trends"],
            request=request,
        )
        return Response(
            {"id": str(report.id), "status": report.status}, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(
        summary="Verify a report",
        description="Recomputes the SHA-256 of the stored result (and of the CSV file) and "
        "compares them, the parameters and `as_of` with the audit event recorded when the "
        "report was generated (`console.report.generated`). `ok` is false for a report "
        "that is not ready or whose stored result, parameters or file differ.",
        responses={200: VerificationSerializer},
    )
    @action(detail=True, methods=["get"])
    def verify(self, request, pk=None):
        return Response(services.report_verify(report=self.get_object()))

    @extend_schema(
        summary="Download a CSV report",
        description="The CSV file of a ready CSV report (one row per figure; for an access "
        "review one row per grant and role holder). 409 `not_ready` before it is ready or "
        "for a JSON report; 409 `file_missing` when the file is gone. Audited "
        "(`console.report.downloaded`).",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV.")},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        report = self.get_object()
        if report.format != Report.Format.CSV or report.status != Report.Status.READY:
            raise Conflict("not_ready", "Only a ready CSV report has a file.")
        path = services.report_file(report)
        if path is None or not path.exists():
            raise Conflict("file_missing", "The report's file is missing.")
        services.report_downloaded(report=report, actor=request.user, request=request)
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"roster-report-{report.id}.csv",
            content_type="text/csv; charset=utf-8",
        )
        response["X-Content-Type-Options"] = "nosniff"
        # The file's digest is its validator, as for every other GET of the API.
        response["ETag"] = f'"{report.file_sha256}"'
        return response
