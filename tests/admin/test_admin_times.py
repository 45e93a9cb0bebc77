"""The admin shows times as the pages do: in the signed-in admin's zone, date format and
clock (accounts.admin_time), on change lists, change pages, view-only pages and inlines."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from accounts.models import User
from accounts.services.settings import settings_update
from audit.models import AuditEvent
from audit.services import record

pytestmark = pytest.mark.django_db

JOINED = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)  # 8 Dec, 07:30 in Tokyo
SIGNED_IN = datetime(2026, 1, 31, 13, 5, 9, tzinfo=UTC)  # 31 Jan, 22:05 in Tokyo


@pytest.fixture
def tokyo_admin(admin_user, web_client_for):
    admin_user.timezone = "Asia/Tokyo"
    admin_user.save(update_fields=["timezone"])
    settings_update(
        user=admin_user, values={"date_format": "dmy", "time_format": "12h"}, actor=admin_user
    )
    return web_client_for(admin_user)


@pytest.fixture
def shown(member):
    User.objects.filter(pk=member.pk).update(date_joined=JOINED, last_login=SIGNED_IN)
    return member


def _cell(page: str, css: str, row_text: str) -> str:
    row = next(r for r in page.split("<tr") if row_text in r)
    return re.search(rf'class="{css}[^"]*"[^>]*>(.*?)</t[dh]>', row, re.S).group(1).strip()


def test_change_list_columns_in_the_admins_zone_and_format(tokyo_admin, shown):
    page = tokyo_admin.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert _cell(page, "field-date_joined", shown.email) == "08/12/2026 7:30 AM JST"
    assert _cell(page, "field-last_login", shown.email) == "31/01/2026 10:05 PM JST"
    assert "Dec. 7, 2026" not in page
    # Still a sortable column under the field's name.
    assert re.search(r'<th scope="col" class="sortable column-date_joined', page)
    sorted_page = tokyo_admin.get(reverse("admin:accounts_user_changelist") + "?o=7")
    assert sorted_page.status_code == 200


def test_empty_time_reads_as_the_admins_empty_value(tokyo_admin, member):
    User.objects.filter(pk=member.pk).update(last_login=None)
    page = tokyo_admin.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert _cell(page, "field-last_login", member.email) == "-"


def test_change_page_read_only_times_in_the_admins_format(tokyo_admin, shown):
    page = tokyo_admin.get(reverse("admin:accounts_user_change", args=[shown.pk])).content
    page = page.decode()
    joined = re.search(r'field-date_joined.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert joined.group(1) == "08/12/2026 7:30 AM JST"
    assert re.search(r"<label>Date joined:</label>", page)


def test_view_only_page_and_a_later_format_change(tokyo_admin, admin_user, member):
    with time_machine.travel(JOINED, tick=False):  # audit events are append-only
        record(action="auth.login.succeeded", actor=member, target=member)
    event = AuditEvent.objects.latest("id")
    settings_update(user=admin_user, values={"date_format": "medium"}, actor=admin_user)
    url = reverse("admin:audit_auditevent_change", args=[event.pk])
    page = tokyo_admin.get(url).content.decode()
    occurred = re.search(r'field-occurred_at.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert occurred.group(1) == "8 Dec 2026 7:30 AM JST"
    listing = tokyo_admin.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert "8 Dec 2026 7:30 AM JST" in listing


def test_inline_rows_in_the_admins_format(tokyo_admin, member):
    from accounts import apikeys

    key, _ = apikeys.api_key_create(user=member, name="ci", scopes=["slots:read"], actor=member)
    type(key).objects.filter(pk=key.pk).update(created_at=JOINED)
    page = tokyo_admin.get(reverse("admin:accounts_user_change", args=[member.pk])).content
    assert "08/12/2026 7:30 AM JST" in page.decode()


def test_another_admin_reads_the_same_page_in_their_own_format(admin_user, shown, web_client_for):
    page = web_client_for(admin_user).get(reverse("admin:accounts_user_changelist")).content
    assert _cell(page.decode(), "field-date_joined", shown.email) == "2026-12-07 22:30 UTC"


@time_machine.travel(JOINED, tick=False)
def test_dashboard_time_in_the_admins_format(tokyo_admin):
    page = tokyo_admin.get(reverse("admin:index") + "?refresh=1").content.decode()
    assert "Figures from 08/12/2026 7:30:00 AM JST" in page
