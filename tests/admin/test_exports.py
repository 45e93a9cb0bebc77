"""Every admin export (users CSV/XLSX, audit CSV, usage CSV): spreadsheet-safe cells through
one helper (config.exports) and one audit event per file (``admin.exported``)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from config.exports import spreadsheet_cell, spreadsheet_uncell
from slots.models import Slot
from slots.services import slot_create, slot_release
from tests.admin.test_import_export import export

pytestmark = pytest.mark.django_db

# What a spreadsheet would run: a formula, a DDE payload, a leading tab or carriage return.
FORMULAS = ["=1+2", "+1+2", "-1+2", "@SUM(1,2)", "\t=1+2", "\r=1+2", "'=1+2"]
CSV, XLSX = "0", "1"


@pytest.mark.parametrize("value", FORMULAS)
def test_spreadsheet_cell_neutralises_and_can_be_undone(value):
    cell = spreadsheet_cell(value)

    assert cell == "'" + value
    assert spreadsheet_uncell(cell) == value


@pytest.mark.parametrize("value", ["Ada", "ada@example.com", "", "1+2", 3, None])
def test_spreadsheet_cell_leaves_plain_values_alone(value):
    assert spreadsheet_cell(value) == value


def _user_rows(response, file_format: str) -> list[dict]:
    assert response.status_code == 200
    if file_format == CSV:
        return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


@pytest.mark.parametrize("file_format", [CSV, XLSX])
def test_user_export_neutralises_formula_cells(admin_web, user_factory, file_format):
    for i, value in enumerate(FORMULAS):
        user_factory(
            email=f"formula{i}@example.com",
            display_name=value,
            first_name=value,
            last_name=value,
            department=value,
        )

    rows = _user_rows(export(admin_web, file_format, "?q=formula"), file_format)

    assert len(rows) == len(FORMULAS)
    by_email = {row["email"]: row for row in rows}
    for i, value in enumerate(FORMULAS):
        row = by_email[f"formula{i}@example.com"]
        # openpyxl writes through lxml (installed with the SAML support), which keeps a
        # carriage return inside an XLSX cell as it is.
        expected = "'" + value
        for column in ("display_name", "first_name", "last_name", "department"):
            assert row[column] == expected, (column, value)


def test_user_export_counts_live_slots_and_mfa(admin_web, user_factory):
    holder = user_factory(email="holder@example.com")
    for name in ("one", "two", "gone"):
        slot_create(owner=holder, type="workspace", name=name, actor=holder)
    slot_release(slot=Slot.objects.get(owner=holder, name="gone"), actor=holder)
    user_factory(email="holder-none@example.com")

    rows = _user_rows(export(admin_web, CSV, "?q=holder"), CSV)

    by_email = {row["email"]: row for row in rows}
    assert by_email["holder@example.com"]["live_slots"] == "2"
    assert by_email["holder-none@example.com"]["live_slots"] == "0"
    assert by_email["holder@example.com"]["mfa_enabled"] == "no"


@pytest.mark.parametrize(("file_format", "extension"), [(CSV, "csv"), (XLSX, "xlsx")])
def test_user_export_is_audited_with_model_format_and_rows(
    manager_web, manager, user_factory, file_format, extension
):
    user_factory(email="listed-1@example.com")
    user_factory(email="listed-2@example.com")

    rows = _user_rows(export(manager_web, file_format, "?q=listed-"), file_format)

    assert len(rows) == 2
    event = AuditEvent.objects.get(action="admin.exported")
    assert event.actor_id == str(manager.pk)
    assert event.metadata["model"] == "accounts.user"
    assert event.metadata["format"] == extension
    assert event.metadata["rows"] == 2
    assert event.metadata["filters"] == {"q": "listed-"}


def test_audit_export_is_audited_by_the_same_mechanism(admin_web, admin_user):
    for i in range(3):
        record(action="test.export", metadata={"i": i})

    response = admin_web.get("/admin/audit/auditevent/export/", {"action": "test.export"})
    lines = b"".join(response.streaming_content).decode().splitlines()

    assert len(lines) == 1 + 3
    event = AuditEvent.objects.get(action="admin.exported")
    assert event.actor_id == str(admin_user.pk)
    assert (event.metadata["model"], event.metadata["format"], event.metadata["rows"]) == (
        "audit.auditevent",
        "csv",
        3,
    )


def test_usage_export_neutralises_cells_and_is_audited(admin_web, admin_user, user_factory):
    from usage.services import usage_events_ingest

    user = user_factory(email="=1+2@example.com")
    usage_events_ingest(caller=user, body={"meter": "tokens.input", "quantity": 3})
    today = timezone.now().date()

    response = admin_web.get(
        "/admin/usage/usageevent/export/",
        {"start": str(today - timedelta(days=1)), "end": str(today), "granularity": "day"},
    )
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body, newline="")))

    assert [(r["email"], r["value"]) for r in rows] == [("'=1+2@example.com", "3")]
    event = AuditEvent.objects.get(action="admin.exported")
    assert event.actor_id == str(admin_user.pk)
    assert (event.metadata["model"], event.metadata["format"], event.metadata["rows"]) == (
        "usage.usageevent",
        "csv",
        1,
    )
    assert event.metadata["start"] == str(today - timedelta(days=1))
