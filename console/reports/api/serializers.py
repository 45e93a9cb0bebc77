from __future__ import annotations

from rest_framework import serializers

from config.api.serializers import StrictBooleanField, StrictFieldsMixin
from console.reports import figures, periods
from console.reports.models import Report


class _UUIDStringField(serializers.UUIDField):
    """A UUID written as a string, as the schema says (DRF's UUIDField also takes integers)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ReportCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    report_type = serializers.ChoiceField(choices=Report.Type.choices)
    organization = _UUIDStringField(format="hex_verbose")
    team = _UUIDStringField(
        format="hex_verbose",
        required=False,
        allow_null=True,
        help_text="Report on one team of the organization (its members). Managers must name "
        "a team they lead.",
    )
    period = serializers.ChoiceField(
        choices=periods.PERIODS,
        help_text="Whole UTC days ending today: daily (today), weekly (7 days), monthly "
        "(30 days); custom: from `since` to `until`, both included.",
    )
    since = serializers.DateField(
        required=False, help_text="Custom periods only: the first day (UTC)."
    )
    until = serializers.DateField(
        required=False,
        help_text="Custom periods only: the last day (UTC), at most today; at most "
        f"{periods.MAX_DAYS} days after `since`.",
    )
    metrics = serializers.ListField(
        child=serializers.ChoiceField(choices=list(figures.METRICS)),
        required=False,
        allow_empty=False,
        min_length=1,
        max_length=len(figures.METRICS),
        help_text="The figures to compute (default: the report type's set). Not for access_review.",
    )
    format = serializers.ChoiceField(choices=Report.Format.choices, default=Report.Format.JSON)
    include_trends = StrictBooleanField(
        default=False,
        help_text="Each figure over time also gets the previous period's value, the "
        "difference and the percentage change. Not for access_review.",
    )


class ReportAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Report.Status.choices)


class ReportSerializer(serializers.ModelSerializer):
    organization = serializers.UUIDField(source="organization_id", read_only=True)
    team = serializers.UUIDField(source="team_id", allow_null=True, read_only=True)
    requested_by = serializers.UUIDField(source="requested_by_id", allow_null=True, read_only=True)
    result = serializers.JSONField(
        allow_null=True,
        read_only=True,
        help_text="The report (null until ready): `figures` ({key, label, value, unit, "
        "series, and with trends previous, difference, percentage}) or, for access_review, "
        "`grants` and `role_holders`.",
    )
    download_url = serializers.SerializerMethodField(
        help_text="CSV reports, once ready: the permission-checked download."
    )

    class Meta:
        model = Report
        fields = [
            "id",
            "report_type",
            "organization",
            "team",
            "parameters",
            "format",
            "status",
            "requested_by",
            "result",
            "download_url",
            "created_at",
            "generated_at",
            "as_of",
            "sha256",
        ]
        read_only_fields = fields

    def get_download_url(self, report: Report) -> str | None:
        if report.format != Report.Format.CSV or report.status != Report.Status.READY:
            return None
        request = self.context.get("request")
        path = f"/api/v1/reports/{report.id}/download"
        return request.build_absolute_uri(path) if request is not None else path


class VerificationSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checks = serializers.DictField(
        child=serializers.BooleanField(),
        help_text="Per part: result (the digest of the stored result), parameters, as_of, "
        "and file for CSV reports.",
    )
    detail = serializers.CharField()
    sha256 = serializers.CharField(required=False, help_text="The digest recomputed now.")
    recorded = serializers.JSONField(
        allow_null=True, help_text="What the audit event recorded at generation."
    )
