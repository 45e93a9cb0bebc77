import io

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from audit.models import AuditEvent
from audit.personal import is_sealed, reveal


@pytest.fixture
def admin_client(admin_user):
    client = Client(HTTP_USER_AGENT="admin-browser", REMOTE_ADDR="198.51.100.4")
    client.force_login(admin_user)
    return client


def _events(prefix):
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("id"))


@pytest.mark.django_db
def test_admin_add_change_delete_are_recorded_with_diff(admin_client, admin_user):
    response = admin_client.post(
        "/admin/auth/group/add/", {"name": "ops"}, HTTP_X_REQUEST_ID="req-admin-1"
    )
    assert response.status_code == 302, response.content[:500]
    group = Group.objects.get(name="ops")
    (created,) = _events("admin.auth.group.created")
    assert created.actor_type == "user" and created.actor_id == str(admin_user.pk)
    assert (created.target_type, created.target_id) == ("group", str(group.pk))
    assert created.changes["name"] == [None, "ops"]
    assert created.request_id == "req-admin-1"
    assert created.ip == "198.51.100.4" and created.user_agent == "admin-browser"
    assert created.metadata["door"] == "admin"

    response = admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "ops-team"})
    assert response.status_code == 302
    (updated,) = _events("admin.auth.group.updated")
    assert updated.changes == {"name": ["ops", "ops-team"]}

    response = admin_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    (deleted,) = _events("admin.auth.group.deleted")
    assert deleted.changes["name"] == ["ops-team", None]
    assert deleted.target_id == str(group.pk)


@pytest.mark.django_db
def test_admin_user_change_records_fields_and_roles_without_password_hash(
    admin_client, member, user_factory
):
    admin_group = Group.objects.get(name="admin")
    url = f"/admin/accounts/user/{member.pk}/change/"
    assert admin_client.get(url).status_code == 200
    data = {
        "email": member.email,
        "username": "member_one",
        "display_name": "Renamed",
        "first_name": "",
        "last_name": "",
        "phone": "",
        "department": "",
        "timezone": "UTC",
        "locale": "en",
        "status": "active",
        "slot_limit": "",
        "is_staff": "on",
        "groups": [str(g.pk) for g in member.groups.all()] + [str(admin_group.pk)],
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    (event,) = _events("admin.accounts.user.updated")
    shown = reveal(event)
    # The user's name and repr are stored encrypted under the user's key, shown decrypted.
    assert is_sealed(event.changes["display_name"][1])
    assert shown.changes["display_name"][1] == "Renamed"
    assert shown.metadata["object_repr"] == member.email
    assert member.email not in str(event.changes) + str(event.metadata)
    assert str(admin_group.pk) in shown.changes["groups"][1]
    assert str(admin_group.pk) not in shown.changes["groups"][0]
    assert "password" not in event.changes
    assert member.password not in str(event.changes) + str(event.metadata)
    assert member.password not in str(shown.changes) + str(shown.metadata)


@pytest.mark.django_db
def test_admin_bulk_delete_action_records_each_object(admin_client):
    groups = [Group.objects.create(name=f"tmp-{i}") for i in range(3)]
    response = admin_client.post(
        "/admin/auth/group/",
        {
            "action": "delete_selected",
            "_selected_action": [str(g.pk) for g in groups],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    deleted = _events("admin.auth.group.deleted")
    assert sorted(e.target_id for e in deleted) == sorted(str(g.pk) for g in groups)


@pytest.mark.django_db
def test_log_entry_outside_audited_admin_is_still_recorded(admin_user):
    group = Group.objects.create(name="side-door")
    LogEntry.objects.log_actions(
        user_id=admin_user.pk, queryset=[group], action_flag=ADDITION, change_message="made"
    )
    (event,) = _events("admin.auth.group.created")
    assert event.actor_id == str(admin_user.pk)
    assert event.target_id == str(group.pk)
    assert event.metadata["source"] == "log_entry"
    assert ContentType.objects.get_for_model(Group).model == "group"


@pytest.mark.django_db
def test_audited_admin_does_not_record_twice(admin_client):
    admin_client.post("/admin/auth/group/add/", {"name": "once"})
    assert AuditEvent.objects.filter(action__startswith="admin.").count() == 1


# --- the audit log's own admin --------------------------------------------------------------

from audit.selectors import csv_verify  # noqa: E402
from audit.services import events_seal, record  # noqa: E402
from tests.audit.conftest import bypassing_triggers  # noqa: E402


@pytest.mark.django_db
def test_audit_admin_is_read_only(admin_client):
    event = record(action="test.readonly")
    base = "/admin/audit/auditevent/"
    assert admin_client.get(base).status_code == 200
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}{event.pk}/change/", {"action": "x"}).status_code == 403
    assert admin_client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "test.readonly"


@pytest.mark.django_db
def test_audit_admin_list_filters_and_search(admin_client, member):
    record(action="slot.created", actor=member, target=("slot", "abc"))
    record(action="auth.login.failed", target=member, metadata={"identifier": member.email})
    base = "/admin/audit/auditevent/"

    def listed(params):
        response = admin_client.get(base, params)
        assert response.status_code == 200
        return {e.action for e in response.context["cl"].result_list}

    assert listed({"action_prefix": "auth."}) == {"auth.login.failed"}
    assert listed({"actor_type": "system"}) >= {"auth.login.failed"}
    assert "slot.created" not in listed({"actor_type": "system"})
    assert listed({"q": "slot.created"}) == {"slot.created"}
    assert listed({"q": "auth.login."}) == {"auth.login.failed"}
    assert listed({"q": member.email}) == {"slot.created", "auth.login.failed"}
    assert listed({"q": "abc"}) == {"slot.created"}
    assert listed({"actor_id": str(member.pk)}) == {"slot.created"}
    assert listed({"occurred_at__gte": "2000-01-01"}) >= {"slot.created"}


@pytest.mark.django_db
def test_audit_admin_detail_shows_the_changes_diff(admin_client, member):
    event = record(
        action="user.updated", target=member, changes={"display_name": ["Old <b>", "New"]}
    )
    response = admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<del>Old &lt;b&gt;</del>" in html and "<ins>New</ins>" in html


@pytest.mark.django_db
def test_audit_admin_member_cannot_see_the_log(client_for, member):
    assert client_for(member).get("/admin/audit/auditevent/").status_code == 302


def _export(admin_client, params):
    response = admin_client.get("/admin/audit/auditevent/export/", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode().splitlines(keepends=True)


@pytest.mark.django_db
def test_audit_admin_csv_export_of_a_filtered_set_verifies(admin_client, member):
    for i in range(3):
        record(action="slot.created", actor=member, metadata={"i": i, "note": "=cmd|' /C calc'!A0"})
        record(action="auth.logout", actor=member)
    events_seal()
    lines = _export(admin_client, {"action_prefix": "slot."})
    assert len(lines) == 1 + 3
    assert lines[0].startswith("seq,seal,prev_seal,uuid,occurred_at,action")
    result = csv_verify(lines)
    assert result.ok, result.as_dict()
    assert (result.rows, result.sealed, result.matched_database) == (3, 3, 3)
    assert result.linked == 0  # every other link is an auth.logout, left out by the filter
    assert AuditEvent.objects.filter(action="admin.exported").count() == 1


@pytest.mark.django_db
def test_audit_admin_csv_neutralises_spreadsheet_formulas_and_still_verifies(admin_client):
    record(action="test.csv", user_agent='=HYPERLINK("http://x")')
    events_seal()
    lines = _export(admin_client, {"q": "test.csv"})
    assert "'=HYPERLINK" in lines[1]
    assert csv_verify(lines).ok


@pytest.mark.django_db
def test_audit_admin_csv_check_detects_an_edited_file_and_a_changed_database(admin_client):
    for i in range(4):
        record(action="test.csv", metadata={"i": i})
    events_seal()
    lines = _export(admin_client, {"q": "test.csv"})
    result = csv_verify(lines)
    assert result.ok and result.linked == 3
    edited = [lines[0], lines[1], lines[2].replace('""i"": 1}', '""i"": 7}'), *lines[3:]]
    assert edited != lines
    broken = csv_verify(edited)
    assert not broken.ok and broken.first_broken["reason"] == "seal_mismatch"
    dropped = [lines[0], lines[1], *lines[3:]]
    assert csv_verify(dropped).ok  # a filtered file may skip links; each row still checks
    target = AuditEvent.objects.filter(action="test.csv").order_by("seq")[2]
    with bypassing_triggers() as cursor:
        cursor.execute("UPDATE audit_auditevent SET seal = %s WHERE id = %s", ["0" * 64, target.pk])
    against_db = csv_verify(lines)
    assert not against_db.ok and against_db.first_broken["reason"] == "differs_from_database"
    assert csv_verify(lines, against_database=False).ok


@pytest.mark.django_db
def test_audit_admin_export_selected_action(admin_client):
    events = [record(action="test.sel", metadata={"i": i}) for i in range(3)]
    events_seal()
    response = admin_client.post(
        "/admin/audit/auditevent/",
        {"action": "export_selected", "_selected_action": [str(events[0].pk), str(events[2].pk)]},
    )
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines(keepends=True)
    assert len(lines) == 3 and csv_verify(lines).ok


@pytest.mark.django_db
def test_audit_verify_command_checks_a_csv_file(admin_client, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    record(action="test.cmd")
    events_seal()
    path = tmp_path / "export.csv"
    path.write_text("".join(_export(admin_client, {"q": "test.cmd"})), encoding="utf-8")
    call_command("audit_verify", "--csv", str(path), stdout=io.StringIO())
    path.write_text(path.read_text().replace("test.cmd", "test.cmX"), encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("audit_verify", "--csv", str(path), "--offline", stdout=io.StringIO())
