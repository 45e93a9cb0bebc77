"""Serializer bases shared by the apps' APIs."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

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
