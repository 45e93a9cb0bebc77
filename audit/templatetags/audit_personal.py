"""``{% revealed_events events as events %}``: a page of events with their personal values
decrypted (``event.revealed``), one query for the lot (see ``audit.personal``)."""

from __future__ import annotations

from django import template

from audit.personal import attach_revealed

register = template.Library()


@register.simple_tag
def revealed_events(events) -> list:
    return attach_revealed(events)
