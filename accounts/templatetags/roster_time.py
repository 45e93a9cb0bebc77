"""Times and the theme as the person reading reads them (accounts.preferences).

``{{ value|user_time }}`` shows a date-time in the user's zone, date format and clock, with
the zone's abbreviation; ``{{ value|user_time:"seconds" }}`` adds seconds and
``{{ value|user_time:"date" }}`` shows the date alone. None and "" give "" (so
``|default:"never"`` works). ``{% display_preferences as prefs %}`` gives the base template
the theme and accent. Both read the preferences once per request.
"""

from __future__ import annotations

from datetime import date

from django import template

from accounts import preferences

register = template.Library()

MODES = ("datetime", "seconds", "date")


@register.filter
def user_time(value, mode: str = "datetime") -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, date):
        raise template.TemplateSyntaxError(f"user_time needs a date or datetime, not {value!r}")
    if mode not in MODES:
        raise template.TemplateSyntaxError(f"user_time mode must be one of {MODES}")
    return preferences.current().format(value, mode=mode)


@register.simple_tag
def display_preferences() -> preferences.DisplayPreferences:
    return preferences.current()
