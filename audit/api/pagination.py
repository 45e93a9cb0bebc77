"""Cursor pagination of audit events by (occurred_at, id), newest first.

The events table is partitioned by month of ``occurred_at`` on PostgreSQL. Paging by id
alone gave the planner no month to leave out: every page read every partition. Here a
cursor carries the position of its edge event as both its time and its id, and the next
page's query is bounded by that time, so PostgreSQL prunes the months past it.

Cursors stay opaque (DRF's base64 query string: ``p`` the position, ``r`` reverse, ``o`` an
offset). A position is ``<microseconds since 1970 UTC>_<id>``. A cursor handed out before
(``p`` an id alone, as paging by id wrote them) still works: the id is placed in time by a
lookup among the events the reader may see, or, when that event is gone (pruned), bounds
the page by id as it did. Such a cursor's offset is honoured; new ones never carry one.
"""

from __future__ import annotations

import datetime
from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import Cursor

from audit import selectors
from config.api.pagination import CursorPagination

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MICROSECOND = datetime.timedelta(microseconds=1)
MAX_ID = 2**63 - 1


def position_of(event) -> str:
    return f"{(event.occurred_at - EPOCH) // MICROSECOND}_{event.pk}"


def _whole(text: str) -> int | None:
    if text.isdigit() and text.isascii() and len(text) <= 19:
        value = int(text)
        return value if value <= MAX_ID else None
    return None


def parse_position(text: str) -> tuple[datetime.datetime | None, int] | None:
    """(occurred_at, id) of a position; (None, id) for an id alone; None if unreadable."""
    micros, sep, ident = text.partition("_")
    if not sep:
        event_id = _whole(text)
        return None if event_id is None else (None, event_id)
    negative = micros.startswith("-")
    count, event_id = _whole(micros[1:] if negative else micros), _whole(ident)
    if count is None or event_id is None:
        return None
    try:
        return EPOCH + MICROSECOND * (-count if negative else count), event_id
    except OverflowError:
        return None


class AuditCursorPagination(CursorPagination):
    ordering = selectors.NEWEST_FIRST

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            if parse_position(cursor.position) is None:
                raise exceptions.ValidationError(
                    {
                        self.cursor_query_param: [
                            exceptions.ErrorDetail(self.invalid_cursor_message, code="invalid")
                        ]
                    }
                )
        return cursor

    def _after(self, queryset, position: str, *, reverse: bool):
        occurred_at, event_id = parse_position(position)
        if occurred_at is None:  # a cursor of paging by id
            occurred_at = selectors.occurred_at_of(queryset, event_id)
            if occurred_at is None:
                return queryset.filter(**{"id__gt" if reverse else "id__lt": event_id})
        bound = selectors.newer_than if reverse else selectors.older_than
        return bound(queryset, occurred_at, event_id)

    def paginate_queryset(self, queryset, request, view=None) -> list[Any]:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        offset, reverse, position = self.cursor or Cursor(0, False, None)
        if position is not None:
            queryset = self._after(queryset, position, reverse=reverse)
        queryset = queryset.order_by(*(selectors.OLDEST_FIRST if reverse else self.ordering))
        results = list(queryset[offset : offset + self.page_size + 1])
        self.page = results[: self.page_size]
        following = len(results) > len(self.page)
        started = position is not None or offset > 0
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = started, following
        else:
            self.has_next, self.has_previous = following, started
        self._position = position
        self.display_page_controls = self.has_next or self.has_previous
        return self.page

    def get_next_link(self):
        if not self.has_next:
            return None
        position = position_of(self.page[-1]) if self.page else self._position
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=position))

    def get_previous_link(self):
        if not self.has_previous:
            return None
        position = position_of(self.page[0]) if self.page else self._position
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=position))
