"""The display preferences of the person a page or email is for: theme, accent, time zone,
the date and time formats, rows per page and the overview's widgets.

They come from the settings registry's category ``preferences`` (accounts.selectors
``user_preferences``) and the profile's ``timezone``, read at most once per request:
:class:`PreferencesMiddleware` puts a lazy reader for the request's user in a context
variable, and the template filter ``user_time`` (accounts/templatetags/roster_time.py) and
the base template's theme read it from there. A request that shows no time and no page
asks the database nothing. Outside a request (a task sending mail), the defaults apply:
UTC, ISO dates, the 24-hour clock.
"""

from __future__ import annotations

import contextvars
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from django.contrib.admin import site as admin_site
from django.db.models import Exists, JSONField, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat, timezone

from accounts import settings_registry
from accounts.models import SettingDefinition, UserSetting
from config.middleware import is_token_api_request

THEMES = ("light", "dark", "auto")
WIDGETS = ("slots", "usage", "security", "api_keys", "sessions")
PAGE_SIZE_BOUNDS = (10, 200)
ACCENT_PATTERN = re.compile(r"#[0-9a-fA-F]{6}")

# date_format -> strftime pattern of the date; time_format -> pattern of the clock.
# ``medium`` ("7 Dec 2026") names the month, so it goes through Django's date formatting
# (MEDIUM_DATE_FORMAT), whose month names follow the active language; strftime's follow
# the process's C locale and would stay English.
DATE_PATTERNS = {"iso": "%Y-%m-%d", "dmy": "%d/%m/%Y", "mdy": "%m/%d/%Y", "medium": None}
MEDIUM_DATE_FORMAT = "j M Y"
TIME_PATTERNS = {"24h": "%H:%M", "12h": "%I:%M %p"}
TIME_PATTERNS_SECONDS = {"24h": "%H:%M:%S", "12h": "%I:%M:%S %p"}


@dataclass(frozen=True)
class DisplayPreferences:
    theme: str = "auto"
    accent: str | None = None  # None: Roster's own accent
    zone: tzinfo = UTC
    date_format: str = "iso"
    time_format: str = "24h"
    page_size: int = 50  # rows per page of the account pages' paged lists (security log)
    widgets: tuple[str, ...] = ("slots", "usage")  # the overview's cards, in order

    @property
    def zone_name(self) -> str:
        return getattr(self.zone, "key", "UTC")

    def format(self, value: datetime | date, *, mode: str = "datetime") -> str:
        """``value`` as this person reads it. ``mode``: ``datetime`` (the default, with the
        zone's abbreviation), ``seconds`` (the same with seconds) or ``date``."""
        if isinstance(value, datetime):
            if timezone.is_naive(value):
                value = timezone.make_aware(value, UTC)
            value = value.astimezone(self.zone)
        pattern = DATE_PATTERNS[self.date_format]
        day = value.strftime(pattern) if pattern else dateformat.format(value, MEDIUM_DATE_FORMAT)
        if mode == "date" or not isinstance(value, datetime):
            return day
        clock_patterns = TIME_PATTERNS_SECONDS if mode == "seconds" else TIME_PATTERNS
        clock = value.strftime(clock_patterns[self.time_format])
        if self.time_format == "12h":
            clock = clock.lstrip("0")
        return f"{day} {clock} {value.tzname()}"


DEFAULTS = DisplayPreferences()


def _choice(value: Any, allowed, default: str) -> str:
    # A definition an admin widened may allow values Roster does not know: use the default.
    return value if isinstance(value, str) and value in allowed else default


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def _preference_definitions(user) -> list[SettingDefinition]:
    """The ``preferences`` definitions, each with the user's stored value: one query (the
    page's read; accounts.selectors.user_settings gives the same values in two)."""
    stored = UserSetting.objects.filter(user=user, definition=OuterRef("pk"))
    return list(
        SettingDefinition.objects.filter(category="preferences").annotate(
            has_stored=Exists(stored),
            stored_value=Subquery(stored.values("value")[:1], output_field=JSONField()),
        )
    )


def preferences_of(user) -> DisplayPreferences:
    """The display preferences of ``user`` (one query)."""
    if user is None or not user.is_authenticated:
        return DEFAULTS
    definitions = _preference_definitions(user)
    prefs = {
        d.key: settings_registry.effective_value(d, d.stored_value, has_stored=d.has_stored)
        for d in definitions
    }
    defaults = {d.key: d.default for d in definitions}
    accent = prefs.get("accent_color")
    if accent == defaults.get("accent_color"):
        accent = None  # the default accent is the theme's own (tuned for light and dark)
    shows_utc = prefs.get("timezone_display") == "utc"
    return DisplayPreferences(
        theme=_choice(prefs.get("theme"), THEMES, DEFAULTS.theme),
        accent=accent.lower()
        if isinstance(accent, str) and ACCENT_PATTERN.fullmatch(accent)
        else None,
        zone=UTC if shows_utc else _zone(user.timezone or ""),
        date_format=_choice(prefs.get("date_format"), DATE_PATTERNS, DEFAULTS.date_format),
        time_format=_choice(prefs.get("time_format"), TIME_PATTERNS, DEFAULTS.time_format),
        page_size=_page_size(prefs.get("page_size")),
        widgets=_widgets(prefs.get("dashboard.widgets")),
    )


def _page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return DEFAULTS.page_size
    low, high = PAGE_SIZE_BOUNDS
    return min(max(value, low), high)


def _widgets(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return DEFAULTS.widgets
    shown: list[str] = []
    for name in value:
        if isinstance(name, str) and name in WIDGETS and name not in shown:
            shown.append(name)
    return tuple(shown)


# The current request's reader: called on first use, then its answer is kept.
_current: contextvars.ContextVar[Callable[[], DisplayPreferences] | None] = contextvars.ContextVar(
    "roster_display_preferences", default=None
)


def current() -> DisplayPreferences:
    """The display preferences of the current request's user (the defaults outside one)."""
    reader = _current.get()
    return reader() if reader is not None else DEFAULTS


def _reader(request: HttpRequest) -> Callable[[], DisplayPreferences]:
    found: list[DisplayPreferences] = []

    def read() -> DisplayPreferences:
        if not found:
            found.append(preferences_of(getattr(request, "user", None)))
        return found[0]

    return read


def _admin_prefix() -> str:
    try:
        return reverse(f"{admin_site.name}:index")
    except NoReverseMatch:
        return "\0"  # no admin mounted: matches no path


class PreferencesMiddleware:
    """Makes the request user's display preferences available to templates, read lazily.

    The admin renders times with Django's own filters, which follow the active time zone,
    so under the admin the user's zone is activated for the request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reader = _reader(request)
        token = _current.set(reader)
        activated = False
        try:
            if (
                not is_token_api_request(request)  # /api/, never the admin
                and request.path_info.startswith(_admin_prefix())
                and request.user.is_authenticated
            ):
                timezone.activate(reader().zone)
                activated = True
            return self.get_response(request)
        finally:
            if activated:
                timezone.deactivate()
            _current.reset(token)


def accent_foreground(accent: str) -> str:
    """Black or white, whichever reads better on ``accent`` (WCAG relative luminance)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(accent[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast with white: 1.05 / (L + .05); with black: (L + .05) / .05.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else "#000000"


def accent_stylesheet(request: HttpRequest, hex_digits: str) -> HttpResponse:
    """``:root`` custom properties for an accent colour. The page links it (the CSP allows
    no inline styles); the colour is in the URL, so the answer never changes."""
    accent = f"#{hex_digits}"
    fg = accent_foreground(accent)
    css = f":root[data-accent] {{ --accent: {accent}; --accent-fg: {fg}; }}\n"
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
