"""Usage API shapes. The ingestion request is ``usage.contract``'s: the same serializers
declare its schema and error codes and validate it (in the service, all or nothing)."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import serializers

from config.api.serializers import QueryParamsSerializer
from usage.contract import UsageEventBatchInSerializer, UsageEventInSerializer
from usage.models import NO_SLOT, Meter, UsageEvent
from usage.selectors import PERIODS, number


@extend_schema_field(
    {
        "type": "number",
        "description": "An exact decimal written as a JSON number literal with every digit "
        "(up to 6 fractional digits, no float rounding): read it as a decimal to keep them.",
    }
)
class NumberField(serializers.Field):
    """An exact decimal rendered as a JSON number literal (integral values as integers)."""

    def to_representation(self, value):
        return number(value)


class MeterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Meter
        fields = ["key", "name", "unit", "aggregation"]


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(
        help_text="Events whose idempotency key was already counted (or repeated in the batch)."
    )


class UsageEventSerializer(serializers.ModelSerializer):
    meter = serializers.CharField(source="meter.key")
    quantity = NumberField()
    slot = serializers.UUIDField(source="slot_id", allow_null=True)
    rolled = serializers.SerializerMethodField()

    class Meta:
        model = UsageEvent
        fields = [
            "meter",
            "quantity",
            "slot",
            "occurred_at",
            "received_at",
            "idempotency_key",
            "metadata",
            "rolled",
        ]

    def get_rolled(self, event) -> bool:
        return event.rolled_at is not None


class StatsQuerySerializer(QueryParamsSerializer):
    period = serializers.ChoiceField(choices=list(PERIODS))
    meter = serializers.CharField(required=False, max_length=64)
    slot = serializers.UUIDField(required=False)

    def validate_meter(self, value: str) -> Meter:
        meter = Meter.objects.filter(key=value).first()
        if meter is None:
            raise serializers.ValidationError("No meter has this key.", code="unknown_meter")
        return meter

    def validate_slot(self, value):
        if value == NO_SLOT:
            raise serializers.ValidationError("Not a slot id.", code="invalid")
        return value


class SystemStatsQuerySerializer(QueryParamsSerializer):
    period = serializers.ChoiceField(choices=list(PERIODS))


class SeriesPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    meter = serializers.CharField()
    value = NumberField()


class StatsSerializer(serializers.Serializer):
    period = serializers.CharField()
    start = serializers.DateTimeField(help_text="Inclusive; the period start rounded down.")
    end = serializers.DateTimeField(help_text="Exclusive; the end of the current bucket.")
    granularity = serializers.ChoiceField(choices=["minute", "hour", "day"])
    totals = serializers.DictField(child=NumberField())
    series = SeriesPointSerializer(many=True)


class QuotaSerializer(serializers.Serializer):
    meter = serializers.CharField()
    limit = NumberField()
    used = NumberField()
    remaining = NumberField()
    window = serializers.ChoiceField(choices=Meter.Window.choices)
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    exceeded = serializers.BooleanField(
        help_text="The limit was crossed in this window (recorded once, with an audit event)."
    )
    exceeded_at = serializers.DateTimeField(allow_null=True)


class TopUserSerializer(serializers.Serializer):
    user = serializers.UUIDField()
    email = serializers.EmailField()
    value = NumberField()


class SystemStatsSerializer(serializers.Serializer):
    period = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    totals = serializers.DictField(child=NumberField())
    active_users = serializers.IntegerField()
    active_slots = serializers.IntegerField()
    top_users = serializers.DictField(child=TopUserSerializer(many=True))


class UsageError409Serializer(serializers.Serializer):
    code = serializers.CharField(help_text="idempotency_conflict")
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class UsageErrorResponse409Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = UsageError409Serializer(many=True)


UsageEventIngestRequest = PolymorphicProxySerializer(
    component_name="UsageEventIngest",
    serializers=[UsageEventInSerializer, UsageEventBatchInSerializer],
    resource_type_field_name=None,
)
