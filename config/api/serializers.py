"""Serializer bases and building blocks shared by the apps' APIs.

``StrictFieldsMixin`` implements the API-wide rule that request bodies carry only the fields
an endpoint accepts: an unknown key is 400 ``unknown_field`` and a read-only key (``email``
on ``PATCH /users/me``) is 400 ``read_only_field``, each naming the key in ``attr``.
A typo therefore fails loudly instead of being silently dropped. The OpenAPI request bodies
of these serializers say ``additionalProperties: false``.

``QueryParamsSerializer`` validates query parameters the way the filter sets do.
"""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from config.api.filters import given_but_empty


class QueryParamsSerializer(serializers.Serializer):
    """Validates ``request.query_params``. A parameter given but empty (``?slot=``) is bad
    input (400 ``blank``), not the same as leaving it out, as in the filter sets."""

    def to_internal_value(self, data):
        if hasattr(data, "get"):
            blank = {
                name: [ErrorDetail("This parameter may not be empty.", code="blank")]
                for name in self.fields
                if given_but_empty(data.get(name))
            }
            if blank:
                raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class StrictFieldsMixin:
    """Refuse request keys that are not writable fields of the serializer."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors: dict[str, list[ErrorDetail]] = {}
            fields = self.fields
            for key in data:
                field = fields.get(key)
                if field is None:
                    errors[str(key)] = [ErrorDetail("Unknown field.", code="unknown_field")]
                elif field.read_only:
                    errors[str(key)] = [
                        ErrorDetail("This field is read-only.", code="read_only_field")
                    ]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictFieldsExtension(OpenApiSerializerExtension):
    target_class = "config.api.serializers.StrictFieldsMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


class _NoSurrogates(ProhibitSurrogateCharactersValidator):
    """DRF's check, answered at C speed for ASCII text (which holds no surrogate): it
    otherwise walks the string character by character in Python, the larger part of
    reading an 800-character token."""

    def __call__(self, value):
        if isinstance(value, str) and value.isascii():
            return
        super().__call__(value)


class StrictCharField(serializers.CharField):
    """A string and nothing else: DRF's CharField would turn ``123`` into ``"123"``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [
            _NoSurrogates() if type(v) is ProhibitSurrogateCharactersValidator else v
            for v in self.validators
        ]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        # The length the schema states is the length sent, before whitespace is trimmed.
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: no ``"5"``, no ``5.0``, no ``true``."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: no ``0``/``1``, no ``"true"`` (DRF's BooleanField takes them all)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data
