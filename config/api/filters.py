"""Filters shared by the API's filter sets."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from rest_framework import exceptions
from rest_framework import filters as rest_framework_filters


def given_but_empty(value) -> bool:
    """`?slot=`, `?role=`: a parameter given but empty is bad input, not "no filter"."""
    return isinstance(value, str) and not value.strip()


class _GivenMeansNotEmpty:
    """For the form fields behind filters: an empty value that was given is refused with the
    field's own error (``empty_code``) instead of being read as "not given"."""

    empty_code = "invalid"

    def to_python(self, value):
        if given_but_empty(value):
            raise ValidationError(
                self.error_messages[self.empty_code], code=self.empty_code, params={"value": value}
            )
        return super().to_python(value)


class UTCIsoDateTimeField(_GivenMeansNotEmpty, django_filters.fields.IsoDateTimeField):
    """An RFC 3339 time, handed to the database in UTC.

    PostgreSQL refuses offsets beyond ±15:59 and times before year 1 that an ISO 8601
    parser accepts ("+18:07", "0001-01-01T00:00+01:00"); in UTC they are either a plain
    time or out of range, which is the caller's error (400), not the server's.
    """

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class GivenUUIDField(_GivenMeansNotEmpty, forms.UUIDField):
    pass


class GivenUUIDFilter(django_filters.UUIDFilter):
    field_class = GivenUUIDField


class GivenChoiceField(_GivenMeansNotEmpty, django_filters.fields.ChoiceField):
    empty_code = "invalid_choice"


class GivenChoiceFilter(django_filters.ChoiceFilter):
    field_class = GivenChoiceField


class NoBlankItemsCSVField(django_filters.fields.BaseCSVField):
    """For a list of choices (``?ordering=email,-status``): ``?ordering=`` or a blank item
    (``email,``) is refused like an unknown choice, instead of being dropped and the rest
    read as if the parameter had not been given."""

    def clean(self, value):
        if value is not None and (not value or any(given_but_empty(v) for v in value)):
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": '""'}
            )
        return super().clean(value)


class OrderingFilter(rest_framework_filters.OrderingFilter):
    """DRF's ordering, but a NUL in ``?ordering=`` is 400 like in every other parameter.

    (Unknown fields are ignored, as DRF does; the schema lists the allowed ones.)
    """

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw is not None and "\x00" in raw:
            raise exceptions.ValidationError(
                {
                    self.ordering_param: [
                        exceptions.ErrorDetail(
                            "Null characters are not allowed.", code="null_characters_not_allowed"
                        )
                    ]
                }
            )
        return super().get_ordering(request, queryset, view)
