"""Bulk import (CSV, dry run, all-or-nothing, no passwords) and export (CSV/XLSX, filtered)."""

import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

IMPORT = "/admin/accounts/user/import/"
PROCESS = "/admin/accounts/user/process_import/"
EXPORT = "/admin/accounts/user/export/"


def csv_file(text: str, name: str = "users.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def upload(client, text: str):
    return client.post(IMPORT, {"resource": "0", "format": "0", "import_file": csv_file(text)})


GOOD = (
    "email,display_name,first_name,last_name,roles,timezone\n"
    "ada@example.com,Ada,Ada,Lovelace,member,Europe/London\n"
    'grace@example.com,Grace,Grace,Hopper,"manager,member",America/New_York\n'
)


def test_import_dry_run_previews_and_writes_nothing(admin_web):
    before = User.objects.count()

    response = upload(admin_web, GOOD)

    assert response.status_code == 200
    result = response.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["new"] == 2
    html = response.content.decode()
    assert "ada@example.com" in html and "grace@example.com" in html
    assert 'name="import_file_name"' in html  # the confirm form
    assert User.objects.count() == before
    assert not AuditEvent.objects.filter(action="user.created").exists()


def test_import_confirm_creates_users_without_passwords_and_emails_them(
    admin_web, mailoutbox, django_capture_on_commit_callbacks
):
    preview = upload(admin_web, GOOD)
    confirm = preview.context["confirm_form"]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_web.post(PROCESS, confirm.initial)

    assert response.status_code == 302
    ada = User.objects.get(email="ada@example.com")
    grace = User.objects.get(email="grace@example.com")
    assert not ada.has_usable_password() and not grace.has_usable_password()
    assert ada.roles == ["member"] and grace.roles == ["member", "manager"]
    assert grace.is_staff is True
    assert ada.timezone == "Europe/London" and ada.last_name == "Lovelace"
    assert AuditEvent.objects.filter(action="user.created", target_id=str(ada.pk)).count() == 1
    assert sorted(m.to[0] for m in mailoutbox) == ["ada@example.com", "grace@example.com"]
    assert all("/accounts/password/reset/key/" in m.body for m in mailoutbox)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("not-an-email,X,,,member,UTC", "is not a valid email address"),
        ("ada@example.com,Again,,,member,UTC", "appears twice in the file"),
        ("bob@example.com,Bob,,,superuser,UTC", "Unknown role(s): superuser"),
        ("bob@example.com,Bob,,,member,Mars/Base", "Use an IANA time zone name"),
        ("member@example.com,Taken,,,member,UTC", "already has an account"),
        ("MEMBER@example.com,Taken,,,member,UTC", "already has an account"),
    ],
)
def test_import_one_bad_row_rejects_the_whole_file(admin_web, member, bad_row, message):
    before = User.objects.count()

    response = upload(admin_web, GOOD + bad_row + "\n")

    assert response.status_code == 200
    result = response.context["result"]
    assert result.has_validation_errors()
    html = response.content.decode()
    assert message in html
    assert 'name="import_file_name"' not in html  # nothing to confirm
    assert User.objects.count() == before


@pytest.mark.parametrize("column", ["password", "password_hash", "api_key", "secret"])
def test_import_refuses_files_with_passwords(admin_web, column):
    response = upload(admin_web, f"email,{column}\nada@example.com,hunter2hunter2\n")

    assert response.status_code == 200
    assert response.context["result"].has_errors()
    assert "may not carry passwords" in response.content.decode()
    assert not User.objects.filter(email="ada@example.com").exists()


def test_import_refuses_unknown_columns(admin_web):
    response = upload(admin_web, "email,is_superuser\nada@example.com,1\n")

    assert "Unknown column(s): is_superuser" in response.content.decode()
    assert not User.objects.filter(email="ada@example.com").exists()


def test_import_is_for_admins_only(manager_web):
    assert manager_web.get(IMPORT).status_code == 403
    assert upload(manager_web, GOOD).status_code == 403
    assert not User.objects.filter(email="ada@example.com").exists()


def export(client, fmt: str, query: str = ""):
    page = client.get(f"{EXPORT}{query}")
    assert page.status_code == 200
    form = page.context["form"]
    data = {"format": fmt, "resource": "0"}
    for name, field in form.fields.items():
        if name.startswith("usersexportresource_") or name.startswith("userexportresource_"):
            data[name] = "on"
        elif name not in data and field.initial is not None and name != "export_items":
            data[name] = field.initial
    return client.post(f"{EXPORT}{query}", data)


def test_export_csv_follows_the_list_filters(admin_web, user_factory):
    user_factory(email="keep@example.com", status="suspended", is_active=False)
    user_factory(email="skip@example.com")

    response = export(admin_web, "0", "?status__exact=suspended")

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["email"] for r in rows] == ["keep@example.com"]
    assert rows[0]["roles"] == "member" and rows[0]["mfa_enabled"] == "no"
    assert "password" not in rows[0]


def test_export_xlsx(admin_web, member):
    response = export(admin_web, "1")

    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    values = [[c.value for c in row] for row in workbook.active.iter_rows()]
    header = values[0]
    emails = {row[header.index("email")] for row in values[1:]}
    assert emails == {"member@example.com", "admin@example.com"}


def test_export_is_open_to_managers(manager_web, member):
    response = export(manager_web, "0")

    assert response.status_code == 200
    assert "member@example.com" in response.content.decode("utf-8-sig")
