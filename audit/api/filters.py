from __future__ import annotations

import django_filters

from audit import selectors
from audit.models import AuditEvent
from config.api.filters import UTCIsoDateTimeFilter


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(
        method="filter_action",
        max_length=100,
        help_text=(
            "An exact action (`auth.login.failed`) or a prefix ending with `.` or `*` "
            "(`auth.`, `slot.*`)."
        ),
    )
    actor = django_filters.CharFilter(
        field_name="actor_id",
        max_length=64,
        help_text="The actor's id: a user id, or an API key id for events an API key did.",
    )
    target = django_filters.CharFilter(
        method="filter_target",
        max_length=130,
        help_text="The target's id, or `<type>:<id>` (e.g. `slot:<uuid>`, `user:<uuid>`).",
    )
    since = UTCIsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        help_text="Events that occurred at or after this RFC 3339 time.",
    )
    until = UTCIsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="lt",
        help_text="Events that occurred before this RFC 3339 time (exclusive).",
    )

    class Meta:
        model = AuditEvent
        fields = ("action", "actor", "target", "since", "until")

    def filter_action(self, queryset, name, value):
        return selectors.filter_action(queryset, value)

    def filter_target(self, queryset, name, value):
        return selectors.filter_target(queryset, value)
