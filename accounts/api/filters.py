"""Filters of GET /api/v1/users. Unknown choices and orderings are 400, never ignored."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from accounts import selectors
from accounts.models import ROLE_NAMES, User
from config.api.filters import GivenChoiceFilter, NoBlankItemsCSVField

ORDERING_FIELDS = ("email", "date_joined", "last_login", "display_name", "status")


class StableOrderingFilter(django_filters.OrderingFilter):
    """Appends the primary key, so equal sort keys never shuffle rows between pages.
    A blank sort key is 400, like an unknown one."""

    base_field_class = NoBlankItemsCSVField

    def filter(self, qs: QuerySet, value):
        qs = super().filter(qs, value)
        if value:
            qs = qs.order_by(*qs.query.order_by, "pk")
        return qs


class UserFilter(django_filters.FilterSet):
    status = GivenChoiceFilter(choices=User.Status.choices)
    role = GivenChoiceFilter(
        choices=[(r, r) for r in ROLE_NAMES],
        method="filter_role",
        help_text="Users with this role.",
    )
    q = django_filters.CharFilter(
        method="filter_q",
        max_length=254,
        help_text="Case-insensitive match in email, username, display, first or last name.",
    )
    ordering = StableOrderingFilter(
        fields=ORDERING_FIELDS,
        help_text="Sort key; prefix with - for descending. Default: date_joined.",
    )

    class Meta:
        model = User
        fields: list[str] = []

    def filter_role(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.users_with_role(qs, value)

    def filter_q(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(email__icontains=value)
            | Q(username__icontains=value)
            | Q(display_name__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
        )
