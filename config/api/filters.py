"""Filters shared by the API's filter sets."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError


class UTCIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An RFC 3339 time, handed to the database in UTC.

    PostgreSQL refuses offsets beyond ±15:59 and times before year 1 that an ISO 8601
    parser accepts ("+18:07", "0001-01-01T00:00+01:00"); in UTC they are either a plain
    time or out of range, which is the caller's error (400), not the server's.
    """

    def to_python(self, value):
        if isinstance(value, str) and not value.strip():
            # `?until=` given but empty is a malformed time, not "no filter".
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class GivenUUIDField(forms.UUIDField):
    """`?slot=` given but empty is a malformed id, not "no filter"."""

    def to_python(self, value):
        if isinstance(value, str) and not value.strip():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class GivenUUIDFilter(django_filters.UUIDFilter):
    field_class = GivenUUIDField
