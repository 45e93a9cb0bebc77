from __future__ import annotations

import django_filters

from config.api.filters import GivenChoiceFilter
from slots.lifecycle import SlotStatus
from slots.models import Slot


class SlotFilter(django_filters.FilterSet):
    status = GivenChoiceFilter(
        choices=SlotStatus.choices,
        method="filter_status",
        help_text="Without it, only live slots (provisioning, active, suspended) are listed.",
    )
    type = django_filters.CharFilter(field_name="type__key", help_text="A slot type key.")

    class Meta:
        model = Slot
        fields = ("status", "type")

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("status"):
            # Released slots are history: listed only when asked for.
            queryset = queryset.exclude(status=SlotStatus.RELEASED)
        return super().filter_queryset(queryset)

    def filter_status(self, queryset, name, value):
        return queryset.filter(status=value)
