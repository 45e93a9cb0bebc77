"""``{{ event|event_words }}``: what an audit event means in words (see ``audit.words``)."""

from __future__ import annotations

from django import template

from audit.personal import revealed_of
from audit.words import describe

register = template.Library()


@register.filter
def event_words(event) -> str:
    return describe(event.action, revealed_of(event).metadata)
