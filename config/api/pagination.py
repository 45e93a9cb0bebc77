"""Pagination shared by every list of the API.

DRF silently falls back to the default page size when ``page_size`` is not a number, and
answers 404 for a mangled cursor. Roster refuses bad paging input like any other bad
input: 400 naming the parameter, so a client's typo never goes unnoticed. The OpenAPI
parameters state the bounds.
"""

from __future__ import annotations

from rest_framework import exceptions, pagination

from config.api.filters import given_but_empty

MAX_PAGE_SIZE = 200


def _invalid(param: str, detail: str, code: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({param: [exceptions.ErrorDetail(detail, code=code)]})


class _StrictPageSize:
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise _invalid(
                self.page_size_query_param, "A whole number is required.", "invalid"
            ) from None
        if size < 1:
            raise _invalid(self.page_size_query_param, "Must be at least 1.", "min_value")
        if size > self.max_page_size:
            raise _invalid(
                self.page_size_query_param, f"Must be at most {self.max_page_size}.", "max_value"
            )
        return size

    def _bounded(self, parameters: list[dict]) -> list[dict]:
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
        return parameters


class PageNumberPagination(_StrictPageSize, pagination.PageNumberPagination):
    page_size = 50

    def get_page_number(self, request, paginator):
        if given_but_empty(request.query_params.get(self.page_query_param)):
            raise _invalid(self.page_query_param, "A whole number is required.", "invalid")
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        parameters = self._bounded(super().get_schema_operation_parameters(view))
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = "Page number (from 1); a page past the end is 404."
        return parameters


class CursorPagination(_StrictPageSize, pagination.CursorPagination):
    """For append-mostly streams (audit, usage events): stable under concurrent inserts."""

    page_size = 50
    ordering = "-id"

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            # A mangled cursor is bad input, not a missing page.
            raise _invalid(self.cursor_query_param, str(exc.detail), "invalid") from exc

    def get_schema_operation_parameters(self, view):
        parameters = self._bounded(super().get_schema_operation_parameters(view))
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = (
                    "Opaque position from the `next` or `previous` link; a mangled one is 400."
                )
        return parameters
