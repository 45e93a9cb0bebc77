from __future__ import annotations

import django_filters

from config.api.filters import GivenUUIDFilter, UTCIsoDateTimeFilter
from usage.models import UsageEvent


class UsageEventFilter(django_filters.FilterSet):
    meter = django_filters.CharFilter(field_name="meter__key", help_text="A meter key.")
    slot = GivenUUIDFilter(field_name="slot_id", help_text="A slot id.")
    since = UTCIsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="occurred_at ≥ this (RFC 3339)."
    )
    until = UTCIsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="occurred_at < this (RFC 3339)."
    )

    class Meta:
        model = UsageEvent
        fields = ("meter", "slot", "since", "until")
