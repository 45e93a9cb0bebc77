"""The audit admin shows what the API shows (selectors.events_visible_to), and personal values
as a person reads them (decrypted, or [erased]): list, detail title, export."""

from __future__ import annotations

import csv
import json

import pytest
from django.test import Client

from audit.models import AuditEvent
from audit.personal import ERASED, is_sealed, subject_forget
from audit.selectors import csv_verify
from audit.services import events_seal, record

pytestmark = pytest.mark.django_db

BASE = "/admin/audit/auditevent/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _csv(response) -> list[str]:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode().splitlines(keepends=True)


@pytest.fixture
def events(manager, member):
    return {
        "by_manager": record(action="test.vis.by", actor=manager),
        "about_manager": record(action="test.vis.about", target=manager),
        "member_only": record(
            action="test.vis.member", actor=member, metadata={"email": member.email}
        ),
    }


def test_audit_admin_manager_sees_only_their_own_events_on_every_page(manager, member, events):
    client = _client(manager)
    own = {events["by_manager"].pk, events["about_manager"].pk}
    other = events["member_only"]

    listing = client.get(BASE, {"action_prefix": "test."})
    assert listing.status_code == 200
    assert {e.pk for e in listing.context["cl"].result_list} == own
    searched = client.get(BASE, {"q": member.email})
    assert other.pk not in {e.pk for e in searched.context["cl"].result_list}
    # Another person's event does not exist for the manager (as in the API: 404, not 403).
    assert client.get(f"{BASE}{other.pk}/change/").status_code == 302
    assert client.get(f"{BASE}{other.pk}/history/").status_code == 302
    assert client.get(f"{BASE}{events['by_manager'].pk}/change/").status_code == 200

    exported = list(csv.DictReader(_csv(client.get(f"{BASE}export/", {"q": "test.vis."}))))
    assert {row["action"] for row in exported} == {"test.vis.by", "test.vis.about"}
    selected = client.post(
        BASE,
        {
            "action": "export_selected",
            "_selected_action": [str(other.pk), str(events["by_manager"].pk)],
        },
    )
    rows = list(csv.DictReader(_csv(selected)))
    assert [row["action"] for row in rows] == ["test.vis.by"]
    assert member.email not in "".join(_csv(client.get(f"{BASE}export/")))


def test_audit_admin_admin_still_sees_every_event(admin_user, member, events):
    client = _client(admin_user)

    listing = client.get(BASE, {"action_prefix": "test."})

    assert {e.pk for e in listing.context["cl"].result_list} == {e.pk for e in events.values()}
    assert client.get(f"{BASE}{events['member_only'].pk}/change/").status_code == 200


def test_user_admin_recent_events_follow_the_audit_visibility(manager, admin_user, member, events):
    url = f"/admin/accounts/user/{member.pk}/change/"

    as_manager = _client(manager).get(url)
    as_admin = _client(admin_user).get(url)

    assert as_manager.status_code == 200 and as_admin.status_code == 200
    assert "test.vis.member" not in as_manager.content.decode()
    assert "test.vis.member" in as_admin.content.decode()


def test_audit_admin_detail_title_and_breadcrumb_show_the_revealed_actor(admin_user, member):
    event = record(action="test.title", actor=member)
    assert is_sealed(AuditEvent.objects.get(pk=event.pk).actor_display)
    client = _client(admin_user)

    pages = [client.get(f"{BASE}{event.pk}/change/"), client.get(f"{BASE}{event.pk}/history/")]

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert "pii:" not in html
        assert html.count(f"test.title by {member.email}") >= 2  # title tag and breadcrumb

    subject_forget(member.pk)
    html = client.get(f"{BASE}{event.pk}/change/").content.decode()
    assert "pii:" not in html and member.email not in html
    assert html.count(f"test.title by {ERASED}") >= 2


def test_audit_admin_csv_personal_columns_are_revealed_and_the_file_still_verifies(
    admin_user, member
):
    record(
        action="test.csvpii",
        actor=member,
        target=member,
        changes={"display_name": ["Old Name", "New Name"]},
        metadata={"email": member.email, "note": "x"},
    )
    events_seal()
    client = _client(admin_user)

    lines = _csv(client.get(f"{BASE}export/", {"q": "test.csvpii"}))
    row = next(csv.DictReader(lines))

    assert row["actor_display"] == member.email
    assert json.loads(row["changes"]) == {"display_name": ["Old Name", "New Name"]}
    assert json.loads(row["metadata"])["email"] == member.email
    assert "pii:" not in row["actor_display"] + row["changes"] + row["metadata"]
    assert is_sealed(row["actor_display_sealed"])
    assert csv_verify(lines).ok, csv_verify(lines).as_dict()
    # The readable copy is checked too, wherever it was not encrypted.
    edited = [lines[0], lines[1].replace('""note"": ""x""', '""note"": ""y""', 1)]
    assert edited[1] != lines[1]
    broken = csv_verify(edited)
    assert not broken.ok and broken.first_broken["reason"] == "readable_mismatch"

    subject_forget(member.pk)
    lines = _csv(client.get(f"{BASE}export/", {"q": "test.csvpii"}))
    row = next(csv.DictReader(lines))
    assert row["actor_display"] == ERASED
    assert member.email not in "".join(lines)
    assert csv_verify(lines).ok
