"""Display preferences (accounts.preferences) and the user_time filter: every time on the pages
in the user's zone, date format and clock, read once per request; theme, accent, page size
and the overview's widgets take effect."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime
from unittest import mock

import pytest
from django.http import HttpResponse
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts import apikeys, preferences
from accounts.preferences import DisplayPreferences, accent_foreground, preferences_of
from accounts.services.settings import settings_update
from audit.services import record

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
WINTER = datetime(2026, 1, 31, 13, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prefs", "mode", "expected"),
    [
        (DisplayPreferences(), "datetime", "2026-01-31 13:05 UTC"),
        (DisplayPreferences(), "seconds", "2026-01-31 13:05:09 UTC"),
        (DisplayPreferences(), "date", "2026-01-31"),
        (DisplayPreferences(zone=BERLIN, date_format="dmy"), "datetime", "31/01/2026 14:05 CET"),
        (
            DisplayPreferences(zone=NEW_YORK, date_format="mdy", time_format="12h"),
            "datetime",
            "01/31/2026 8:05 AM EST",
        ),
        (
            DisplayPreferences(zone=NEW_YORK, time_format="12h"),
            "seconds",
            "2026-01-31 8:05:09 AM EST",
        ),
    ],
)
def test_format(prefs, mode, expected):
    assert prefs.format(WINTER, mode=mode) == expected


def test_format_crosses_midnight_into_the_users_date():
    late = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert DisplayPreferences(zone=BERLIN).format(late, mode="date") == "2026-02-01"
    assert DisplayPreferences(zone=BERLIN).format(date(2026, 1, 31)) == "2026-01-31"


def test_filter_outside_a_request_uses_the_defaults():
    rendered = Template(
        "{% load roster_time %}{{ t|user_time }}|{{ t|user_time:'date' }}|"
        "{{ none|user_time|default:'never' }}"
    ).render(Context({"t": WINTER, "none": None}))
    assert rendered == "2026-01-31 13:05 UTC|2026-01-31|never"


def test_filter_refuses_an_unknown_mode_and_a_non_date():
    with pytest.raises(TemplateSyntaxError):
        Template('{% load roster_time %}{{ t|user_time:"week" }}').render(Context({"t": WINTER}))
    with pytest.raises(TemplateSyntaxError):
        Template("{% load roster_time %}{{ t|user_time }}").render(Context({"t": "yesterday"}))


@pytest.mark.parametrize(
    ("accent", "foreground"),
    [
        ("#0b5cad", "#ffffff"),
        ("#ffe066", "#000000"),
        ("#000000", "#ffffff"),
        ("#ffffff", "#000000"),
    ],
)
def test_accent_foreground_keeps_the_better_contrast(accent, foreground):
    assert accent_foreground(accent) == foreground


@pytest.mark.django_db
def test_preferences_of_reads_the_settings_and_the_profile(member):
    member.timezone = "Europe/Berlin"
    member.save(update_fields=["timezone"])
    assert preferences_of(member).zone == BERLIN
    assert preferences_of(member).accent is None  # the default accent is the theme's own
    settings_update(
        user=member,
        values={
            "theme": "dark",
            "accent_color": "#AA3300",
            "date_format": "mdy",
            "time_format": "12h",
            "page_size": 10,
            "dashboard.widgets": ["sessions", "slots"],
        },
        actor=member,
    )
    prefs = preferences_of(member)
    assert (prefs.theme, prefs.accent, prefs.date_format, prefs.time_format) == (
        "dark",
        "#aa3300",
        "mdy",
        "12h",
    )
    assert (prefs.page_size, prefs.widgets) == (10, ("sessions", "slots"))
    settings_update(user=member, values={"timezone_display": "utc"}, actor=member)
    assert preferences_of(member).zone == UTC


@pytest.mark.django_db
def test_an_unknown_zone_reads_as_utc(member):
    member.timezone = "Mars/Olympus"
    assert preferences_of(member).zone == UTC


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.mark.django_db
def test_pages_show_times_in_the_users_zone_and_format_reading_preferences_once(member):
    member.timezone = "America/New_York"
    member.save(update_fields=["timezone"])
    settings_update(user=member, values={"date_format": "dmy", "time_format": "12h"}, actor=member)
    for name in ("first", "second", "third"):
        apikeys.api_key_create(
            user=member, name=name, scopes=["profile:read"], expires_at=None, actor=member
        )
    browser = _browser(member)
    with mock.patch.object(
        preferences, "_preference_definitions", wraps=preferences._preference_definitions
    ) as reads:
        page = browser.get("/account/api-keys/").content.decode()
    assert reads.call_count == 1  # three keys, one base template, one read
    shown = re.findall(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M E[SD]T", page)
    assert len(shown) == 3
    assert "Times are UTC" not in page


@pytest.mark.django_db
def test_security_log_in_the_users_zone_and_page_size(member):
    member.timezone = "Europe/Berlin"
    member.save(update_fields=["timezone"])
    settings_update(user=member, values={"page_size": 10}, actor=member)
    for _ in range(12):
        record(action="user.profile.updated", actor=member, target=member)
    page = _browser(member).get("/account/security-log/").content.decode()
    assert page.count('data-testid="audit-row"') == 10
    assert 'rel="next"' in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", page)
    assert "times in UTC" not in page


@pytest.mark.django_db
def test_theme_and_accent_reach_the_page(member):
    browser = _browser(member)
    page = browser.get("/account/").content.decode()
    assert '<html lang="en" data-theme="auto">' in page
    assert "/theme/accent-" not in page
    settings_update(user=member, values={"theme": "dark", "accent_color": "#aa3300"}, actor=member)
    page = browser.get("/account/").content.decode()
    assert 'data-theme="dark" data-accent' in page
    assert '<meta name="color-scheme" content="dark">' in page
    assert 'href="/theme/accent-aa3300.css"' in page


@pytest.mark.django_db
def test_accent_stylesheet(client):
    response = client.get("/theme/accent-aa3300.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "immutable" in response["Cache-Control"]
    assert response.content.decode() == (
        ":root[data-accent] { --accent: #aa3300; --accent-fg: #ffffff; }\n"
    )
    assert client.get("/theme/accent-AA3300.css").status_code == 404
    assert client.get("/theme/accent-zz3300.css").status_code == 404


@pytest.mark.django_db
def test_overview_shows_the_chosen_widgets_in_order(member):
    settings_update(
        user=member, values={"dashboard.widgets": ["sessions", "api_keys"]}, actor=member
    )
    page = _browser(member).get("/account/").content.decode()
    assert re.findall(r'data-widget="(\w+)"', page) == ["sessions", "api_keys"]


@pytest.mark.django_db
def test_admin_runs_in_the_admins_zone_and_pages_in_the_sites(admin_user):
    admin_user.timezone = "Asia/Tokyo"
    admin_user.save(update_fields=["timezone"])
    seen: list[str] = []

    def view(request):
        seen.append(timezone.get_current_timezone_name())
        return HttpResponse()

    middleware = preferences.PreferencesMiddleware(view)
    for path in ("/admin/", "/account/"):
        request = RequestFactory().get(path)
        request.user = admin_user
        middleware(request)
    # The admin's own filters follow the active zone; pages use user_time instead.
    assert seen == ["Asia/Tokyo", "UTC"]
    assert timezone.get_current_timezone_name() == "UTC"
    assert _browser(admin_user).get("/admin/").status_code == 200


@pytest.mark.django_db
def test_allauths_session_list_shows_exact_times_in_the_users_zone(member):
    member.timezone = "Asia/Kolkata"
    member.save(update_fields=["timezone"])
    browser = _browser(member)
    browser.get("/account/")  # allauth's middleware records this browser's session
    page = browser.get("/accounts/sessions/").content.decode()
    assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d IST"', page), page
