"""Backups: a chain restores every row; encryption, keys and checksums; retention."""

from __future__ import annotations

import datetime

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import chain_verify
from audit.services import events_seal, record
from console.backups import engine, fileformat, services
from console.models import Backup
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_ENCRYPTION_KEYS = []


def take(backup_type: str = "full", **kwargs) -> Backup:
    backup = services.backup_create(backup_type=backup_type, run=False, **kwargs)
    return services.backup_run(backup_id=backup.id)


def every_row() -> dict[str, list[dict]]:
    return {
        model._meta.label_lower: serializers.serialize(
            "python", model._base_manager.order_by("pk"), fields=engine._field_names(model)
        )
        for model in engine.backup_models()
    }


def wipe() -> None:
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_backup_full_then_incremental_restores_every_row():
    keep, edit, drop = UserFactory.create_batch(3)
    for i in range(5):
        record(action="test.backup", actor=keep, metadata={"i": i})
    events_seal()
    full = take("full")
    assert full.status == Backup.Status.READY and full.base is None

    UserFactory(email="new@example.com")
    edit.first_name = "Edited"
    edit.save()
    drop.delete()
    record(action="test.after_full", actor=keep)
    events_seal()
    record(action="test.unsealed", actor=keep)  # in the chain only after the restore's seal
    incremental = take("incremental")
    assert incremental.base == full
    assert incremental.manifest["audit.auditevent"]["mode"] == "appended"
    audit_entry = incremental.manifest["audit.auditevent"]
    assert 2 <= audit_entry["rows"] < audit_entry["count"]  # the new and the unsealed only
    expected = every_row()
    # The run's own "completed" event comes after its snapshot.
    expected["audit.auditevent"] = [
        row for row in expected["audit.auditevent"] if row["pk"] <= audit_entry["max_pk"]
    ]

    wipe()
    result = services.restore(services.backup_path(incremental))

    assert result["files"] == [f"{full.id}.rbk", f"{incremental.id}.rbk"]
    restored = every_row()
    for label, rows in expected.items():
        if label != "console.backup":
            assert restored[label] == rows, label
    assert chain_verify().ok
    assert AuditEvent.objects.filter(action="test.unsealed", seq__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_backup_is_proven_in_a_scratch_database():
    UserFactory.create_batch(2)
    record(action="test.backup")
    events_seal()
    full = take("full")
    UserFactory()
    incremental = take("incremental")

    proven = services.backup_verify(backup_id=incremental.id)

    assert proven.verified_ok is True, proven.verified_detail
    assert proven.verified_detail["count_mismatches"] == {}
    assert proven.verified_detail["audit_chain"]["ok"] is True
    assert proven.verified_detail["files"] == [f"{full.id}.rbk", f"{incremental.id}.rbk"]
    assert AuditEvent.objects.filter(action="console.backup.verified").count() == 1


@pytest.mark.django_db(transaction=True)
def test_backup_selective_holds_only_its_apps_and_restores_them():
    user = UserFactory()
    record(action="test.selective", actor=user)
    events_seal()
    backup = take("selective", apps=["audit"])
    assert set(backup.manifest) == {"audit.auditchain", "audit.auditevent", "audit.subjectkey"}
    last = backup.manifest["audit.auditevent"]["max_pk"]  # its "completed" event comes after
    expected = [row for row in every_row()["audit.auditevent"] if row["pk"] <= last]
    record(action="test.after")
    events_seal()

    services.restore(services.backup_path(backup))

    assert every_row()["audit.auditevent"] == expected
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_backup_encrypted_round_trip_and_key_rotation(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BACKUP_ENCRYPTION_KEYS = [old_key]
    UserFactory(email="secret-person@example.com")
    backup = take("full", encrypted=True)
    path = services.backup_path(backup)
    header, _ = fileformat.read_header(path)
    assert header["encrypted"] is True and header["key_id"] == fileformat.key_id(old_key)
    assert backup.key_id == header["key_id"]
    assert b"secret-person" not in path.read_bytes()
    expected = every_row()

    settings.BACKUP_ENCRYPTION_KEYS = [new_key, old_key]  # rotated: the old key still reads
    wipe()
    services.restore(path)

    assert every_row()["accounts.user"] == expected["accounts.user"]


@pytest.mark.django_db(transaction=True)
def test_backup_wrong_key_is_a_clear_error(settings):
    settings.BACKUP_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    backup = take("full", encrypted=True)
    settings.BACKUP_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(fileformat.BackupFileError) as caught:
        services.restore(services.backup_path(backup))

    assert caught.value.code == "unknown_key"
    assert backup.key_id in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_backup_tampered_file_is_refused_before_any_write():
    UserFactory(email="kept@example.com")
    backup = take("full")
    path = services.backup_path(backup)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(fileformat.BackupFileError) as caught:
        services.restore(path)

    assert caught.value.code == "checksum_mismatch"
    proven = services.backup_verify(backup_id=backup.id)
    assert proven.verified_ok is False
    assert proven.verified_detail["error"] == "checksum_mismatch"


@pytest.mark.django_db(transaction=True)
def test_backup_not_a_backup_file_is_refused(tmp_path):
    path = tmp_path / "x.rbk"
    path.write_bytes(b"PGDMP something else")
    with pytest.raises(fileformat.BackupFileError) as caught:
        services.restore(path)
    assert caught.value.code == "invalid_backup"


@pytest.mark.django_db(transaction=True)
def test_backup_command_and_restore_command_round_trip(capsys):
    UserFactory(email="shell@example.com")
    call_command("backup", "--no-verify")
    backup = Backup.objects.get()
    expected = every_row()["accounts.user"]
    wipe()

    call_command("restore", str(services.backup_path(backup)))

    assert every_row()["accounts.user"] == expected


@pytest.mark.django_db
def test_backup_incremental_without_base_is_a_conflict():
    from config.errors import Conflict

    with pytest.raises(Conflict) as caught:
        services.backup_create(backup_type="incremental", run=False)
    assert caught.value.code == "no_base"


@pytest.mark.django_db
def test_backup_retention_deletes_expired_increments_before_their_base(tmp_path):
    now = timezone.now()
    full = Backup.objects.create(
        backup_type="full", retention_days=1, status="ready", expires_at=now, file_name="a.rbk"
    )
    increment = Backup.objects.create(
        backup_type="incremental",
        base=full,
        retention_days=1,
        status="ready",
        expires_at=now,
        file_name="b.rbk",
    )
    kept = Backup.objects.create(
        backup_type="full",
        retention_days=5,
        status="ready",
        expires_at=now + datetime.timedelta(days=4),
        file_name="c.rbk",
    )

    assert services.backups_expire(now=now + datetime.timedelta(seconds=1)) == 2

    assert list(Backup.objects.all()) == [kept]
    expired = AuditEvent.objects.filter(action="console.backup.expired")
    assert sorted(e.target_id for e in expired) == sorted([str(full.id), str(increment.id)])


@pytest.mark.django_db(transaction=True)
def test_backup_include_files_puts_the_files_back(monkeypatch, tmp_path):
    # No Roster model stores files yet: a FileField reading User.first_name as the file
    # name stands in for one, with a storage of its own.
    from django.core.files.storage import FileSystemStorage
    from django.db import models

    from accounts.models import User

    storage = FileSystemStorage(location=tmp_path / "media")
    field = models.FileField(storage=storage)
    field.name, field.attname = "first_name", "first_name"
    monkeypatch.setattr(engine, "file_fields", lambda model: [field] if model is User else [])
    storage.save("docs/a.txt", ContentFile(b"attachment bytes"))
    UserFactory(first_name="docs/a.txt")
    UserFactory(first_name="docs/gone.txt")

    backup = take("full", include_files=True)
    assert backup.manifest["accounts.user"]["files"] == 1
    assert backup.manifest["accounts.user"]["files_missing"] == ["docs/gone.txt"]
    without = take("full")
    assert "files" not in without.manifest["accounts.user"]
    storage.delete("docs/a.txt")

    checked = services.restore(services.backup_path(backup), check=True)
    assert checked["files_restored"] == 1 and not storage.exists("docs/a.txt")  # rolled back
    services.restore(services.backup_path(backup))

    with storage.open("docs/a.txt") as handle:
        assert handle.read() == b"attachment bytes"


def _sections(path) -> dict[str, dict]:
    """Each section's header record and the records that follow it, by table."""
    _, records = fileformat.records(path)
    found: dict[str, dict] = {}
    current = None
    for item in records:
        if "section" in item:
            current = found[item["section"]] = {"head": item, "records": []}
        else:
            current["records"].append(item)
    return found


def _set_flag(user, value: bool) -> None:
    from accounts.models import SettingDefinition
    from accounts.services.settings import settings_update

    SettingDefinition.objects.get_or_create(key="test.flag", defaults={"type": "boolean"})
    settings_update(user=user, values={"test.flag": value}, actor=user)


def _usage(user, *keys: str) -> None:
    from usage.models import Meter
    from usage.services.ingestion import usage_events_ingest

    Meter.objects.get_or_create(key="tokens.input", defaults={"name": "Input tokens"})
    events = [{"meter": "tokens.input", "quantity": 3, "idempotency_key": k} for k in keys]
    events.append({"meter": "tokens.input", "quantity": 1})
    usage_events_ingest(caller=user, body={"events": events})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_backup_copy_sections_round_trip_every_row_on_postgresql(monkeypatch):
    from django.conf import settings as django_settings

    from usage.models import IdempotencyKey, UsageEvent

    if not django_settings.IS_POSTGRES:
        pytest.skip("COPY sections are PostgreSQL's")
    monkeypatch.setattr(engine, "COPY_MIN_ROWS", 0)  # every table a COPY section
    keep, edit, drop = UserFactory.create_batch(3)
    _set_flag(keep, True)
    for i in range(5):
        record(action="test.backup", actor=keep, metadata={"i": i, "text": "tab\there\nline"})
    events_seal()
    _usage(keep, "a", "b")
    _usage(drop, "c")
    full = take("full")
    assert {entry.get("format") for entry in full.manifest.values()} == {"copy"}
    sections = _sections(services.backup_path(full))
    assert sections["usage.usageevent"]["head"]["format"] == "copy"
    assert all(set(r) == {"copy"} for r in sections["usage.usageevent"]["records"])

    UserFactory(email="new@example.com")
    edit.display_name = "Edited\twith a tab"
    edit.save()
    drop.delete()
    _set_flag(keep, False)
    record(action="test.after_full", actor=keep)
    events_seal()
    record(action="test.unsealed", actor=keep)
    _usage(keep, "d")
    incremental = take("incremental")
    assert incremental.manifest["accounts.user"]["mode"] == "changed"
    assert incremental.manifest["usage.usageevent"]["mode"] == "appended"
    audit_entry = incremental.manifest["audit.auditevent"]
    expected = every_row()
    expected["audit.auditevent"] = [
        row for row in expected["audit.auditevent"] if row["pk"] <= audit_entry["max_pk"]
    ]
    assert len(expected["usage.idempotencykey"]) == 3  # a, b, d (c went with its user)

    wipe()
    services.restore(services.backup_path(incremental))

    restored = every_row()
    for label, rows in expected.items():
        if label != "console.backup":
            assert restored[label] == rows, label
    assert chain_verify().ok
    # The sequences were set past the restored ids: new rows get new ids.
    newest_event = max(row["pk"] for row in expected["usage.usageevent"])
    _usage(keep, "e")
    assert UsageEvent.objects.order_by("-pk").first().pk > newest_event
    assert IdempotencyKey.objects.filter(idempotency_key="e").exists()
    record(action="test.after_restore", actor=keep)
    assert AuditEvent.objects.order_by("-pk").first().pk > audit_entry["max_pk"]


@pytest.mark.django_db(transaction=True)
def test_backup_file_of_format_version_1_still_restores(monkeypatch):
    # Version 1 wrote every section as serialized rows (no COPY sections).
    monkeypatch.setattr(fileformat, "VERSION", 1)
    monkeypatch.setattr(engine, "COPY_MIN_ROWS", 10**12)
    UserFactory.create_batch(2)
    record(action="test.old_format")
    events_seal()
    full = take("full")
    UserFactory(email="later@example.com")
    incremental = take("incremental")
    monkeypatch.undo()
    header, _ = fileformat.read_header(services.backup_path(incremental))
    assert header["version"] == 1 and fileformat.VERSION == 2
    assert all("format" not in entry for entry in full.manifest.values())
    expected = every_row()

    wipe()
    services.restore(services.backup_path(incremental))

    assert every_row()["accounts.user"] == expected["accounts.user"]
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_backup_incremental_holds_the_changed_user_only():
    from accounts.models import User

    users = UserFactory.create_batch(4)
    # Users last saved long before the full backup (beyond the incremental's slack).
    User.objects.update(updated_at=timezone.now() - datetime.timedelta(days=2))
    take("full")
    changed = users[2]
    changed.display_name = "Renamed"
    changed.save(update_fields=["display_name"])  # a profile edit saves chosen fields
    _set_flag(users[1], True)

    incremental = take("incremental")

    entry = incremental.manifest["accounts.user"]
    assert entry["mode"] == "changed" and entry["rows"] == 1 and entry["count"] == 4
    sections = _sections(services.backup_path(incremental))
    users_section = sections["accounts.user"]
    assert [r["pk"] for r in users_section["records"]] == [str(changed.pk)]
    assert sorted(users_section["head"]["present"]) == sorted(str(u.pk) for u in users)
    settings_rows = sections["accounts.usersetting"]["records"]
    assert [r["fields"]["user"] for r in settings_rows] == [str(users[1].pk)]


@pytest.mark.django_db(transaction=True)
def test_a_backup_deleted_while_a_worker_proves_or_takes_it_ends_quietly(monkeypatch):
    backup = take("full")
    proving = services.prove

    def deleted_meanwhile(path):
        # An admin deletes the backup while the worker restores it into the scratch database.
        services.backup_delete(backup=Backup.objects.get(pk=backup.pk))
        return proving(path) if path.exists() else {"ok": False, "error": "gone"}

    monkeypatch.setattr(services, "prove", deleted_meanwhile)
    services.backup_verify(backup_id=backup.id)  # no error: its result has nowhere to go
    assert not Backup.objects.filter(pk=backup.pk).exists()
    assert not AuditEvent.objects.filter(action="console.backup.verified").exists()
    # A task for a backup that is gone does nothing.
    assert services.backup_verify(backup_id=backup.id) is None
    assert services.backup_run(backup_id=backup.id) is None
