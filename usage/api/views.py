"""Usage API: thin views over ``usage.services`` (writes) and ``usage.selectors`` (reads)."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.pagination import CursorPagination
from config.api.parsers import ExactJSONParser
from config.api.permissions import HasScope, IsAdminRole
from usage import selectors, services
from usage.api.filters import UsageEventFilter
from usage.api.serializers import (
    IngestResultSerializer,
    MeterSerializer,
    QuotaSerializer,
    StatsQuerySerializer,
    StatsSerializer,
    SystemStatsQuerySerializer,
    SystemStatsSerializer,
    UsageErrorResponse409Serializer,
    UsageEventIngestRequest,
    UsageEventSerializer,
)
from usage.models import Meter, UsageEvent

USAGE_SCOPES = ("usage:read", "usage:write")

STATS_DESCRIPTION = (
    "Exact totals per meter and a series for the period. Totals count every accepted "
    "event once, rolled up or not (rollups + the not-yet-rolled tail, read in one "
    "statement). Windows are whole buckets: `start` is now − period rounded down to the "
    "granularity (1h → minute, 24h and 7d → hour, 30d → day) and `end` is the end of the "
    "current bucket, so the series (one point per bucket per meter, zeros included) adds "
    "up to the totals for `sum` and `count` meters; for `max` meters the total is the "
    "largest point. Values are JSON numbers (exact decimals with up to 6 fractional digits): "
    "read as decimals, the series adds up to the totals to the last digit."
)


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stats_payload(stats: dict) -> dict:
    """StatsSerializer's shape, built directly: a 7-day series has ~700 points and DRF
    field objects would cost more than the query that produced them.

    The selector's values are exact Decimals; they become JSON numbers only here, each one
    on its own (as NumberField does), so the series still adds up to the totals."""
    return {
        **stats,
        "start": _iso(stats["start"]),
        "end": _iso(stats["end"]),
        "totals": {key: selectors.number(value) for key, value in stats["totals"].items()},
        "series": [
            {
                "start": _iso(p["start"]),
                "meter": p["meter"],
                # Most points are empty buckets: skip the conversion for them.
                "value": selectors.number(p["value"]) if p["value"] else 0,
            }
            for p in stats["series"]
        ],
    }


class UsageEventCursorPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")


@extend_schema(
    summary="Meters", description="Active meters events can be recorded against. Not paginated."
)
class MeterListView(generics.ListAPIView):
    serializer_class = MeterSerializer
    # docs/api.md: any authenticated caller; an ingest-only key (usage:write) needs the catalogue.
    api_key_without_scope = True
    queryset = Meter.objects.none()
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return selectors.meter_list(active_only=True)


class UsageEventsView(generics.ListAPIView):
    # The 400 codes of events come from their contract (usage.contract's fields).
    error_codes = {"post": {409: ["idempotency_conflict"]}}
    serializer_class = UsageEventSerializer
    queryset = UsageEvent.objects.none()
    required_scopes = USAGE_SCOPES
    # Quantities are read as the decimals the client wrote, never through a float.
    parser_classes = [ExactJSONParser]
    pagination_class = UsageEventCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = UsageEventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return UsageEvent.objects.none()
        return selectors.usage_events_for(user=self.request.user)

    @extend_schema(
        summary="Your raw usage events",
        description="Newest `occurred_at` first, cursor-paginated; filters `meter`, `slot`, "
        "`since` (inclusive), `until` (exclusive).",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Record usage",
        description=(
            'One event, or `{"events": [...]}` with up to 1000. All or nothing: any invalid '
            "event rejects the request with 400 listing every error by `events.<index>."
            "<field>` (at most 200 listed), and nothing is stored. `idempotency_key` makes "
            "an event count once per user, forever; the same key with different content is "
            "409 `idempotency_conflict` for the whole request. Duplicate keys inside one "
            "batch count once. Foreign or unknown slot ids are 400 `unknown_slot`. Bodies "
            "over 2 MB are 413. Admins may set `user` on an event; others get 403."
        ),
        request=UsageEventIngestRequest,
        responses={
            202: IngestResultSerializer,
            409: UsageErrorResponse409Serializer,
            413: OpenApiResponse(description="Body too large (over 2 MB)."),
        },
    )
    def post(self, request, *args, **kwargs):
        result = services.usage_events_ingest(
            caller=request.user, body=request.data, request=request
        )
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates},
            status=status.HTTP_202_ACCEPTED,
        )


class UsageStatsView(APIView):
    error_codes = {400: ["required", "invalid_choice", "unknown_meter", "invalid"]}
    required_scopes = USAGE_SCOPES

    @extend_schema(
        summary="Your usage statistics",
        description=STATS_DESCRIPTION,
        parameters=[StatsQuerySerializer],
        responses={200: StatsSerializer},
    )
    def get(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stats = selectors.usage_stats(
            user=request.user,
            period=query.validated_data["period"],
            meter=query.validated_data.get("meter"),
            slot_id=query.validated_data.get("slot"),
        )
        return Response(_stats_payload(stats))


class UsageQuotaView(APIView):
    required_scopes = USAGE_SCOPES

    @extend_schema(
        summary="Your quotas",
        description="One entry per meter that limits you, with the most generous of your own "
        "limit (the meter's default or your override) and the `usage_limits` of the plans of "
        "the active organizations you are an active member of; for the current UTC calendar "
        "window (day or month). Usage over the limit is still recorded; `exceeded` tells the "
        "limit was crossed in this window.",
        responses={200: QuotaSerializer(many=True)},
    )
    def get(self, request):
        return Response(QuotaSerializer(selectors.usage_quota(user=request.user), many=True).data)


class SystemUsageStatsView(APIView):
    error_codes = {400: ["required", "invalid_choice"]}
    permission_classes = [IsAuthenticated, HasScope, IsAdminRole]
    required_scopes = ("usage:read", "usage:read")

    @extend_schema(
        summary="Everyone's usage (admin)",
        description="Totals per meter, users and slots with usage in the period, and the top "
        "10 users by each meter. Windows as in GET /usage/stats.",
        parameters=[SystemStatsQuerySerializer],
        responses={200: SystemStatsSerializer},
    )
    def get(self, request):
        query = SystemStatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stats = selectors.usage_system_stats(period=query.validated_data["period"])
        return Response(SystemStatsSerializer(stats).data)
