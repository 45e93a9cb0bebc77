"""The Backup admin page: read-only, shows the proof, deletes through the audited service."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from console.models import Backup


@pytest.fixture
def admin_web(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _backup(**fields) -> Backup:
    defaults = {
        "backup_type": "full",
        "retention_days": 7,
        "status": "ready",
        "expires_at": timezone.now(),
        "file_name": "x.rbk",
        "verified_at": timezone.now(),
        "verified_ok": True,
        "verified_detail": {"ok": True, "tables": 3},
    }
    return Backup.objects.create(**defaults | fields)


def test_backup_admin_lists_and_shows_the_proof(admin_web):
    backup = _backup()
    listed = admin_web.get("/admin/console/backup/")
    assert listed.status_code == 200
    assert str(backup.pk) in listed.content.decode()
    shown = admin_web.get(f"/admin/console/backup/{backup.pk}/change/")
    assert shown.status_code == 200
    body = shown.content.decode()
    assert f"/api/v1/admin/backups/{backup.pk}/download" in body
    assert "&quot;tables&quot;: 3" in body or '"tables": 3' in body
    assert admin_web.get("/admin/console/backup/add/").status_code == 403


def test_backup_admin_delete_is_audited_once_and_refused_under_increments(admin_web, admin_user):
    base = _backup()
    increment = _backup(backup_type="incremental", base=base)

    admin_web.post(f"/admin/console/backup/{base.pk}/delete/", {"post": "yes"})
    assert Backup.objects.filter(pk=base.pk).exists()  # an increment builds on it
    assert not AuditEvent.objects.filter(target_id=str(base.pk)).exists()

    admin_web.post(f"/admin/console/backup/{increment.pk}/delete/", {"post": "yes"})
    assert not Backup.objects.filter(pk=increment.pk).exists()
    events = AuditEvent.objects.filter(target_id=str(increment.pk))
    assert [(e.action, e.actor_id) for e in events] == [
        ("console.backup.deleted", str(admin_user.pk))
    ]


def test_backup_admin_is_closed_to_members(member):
    client = Client()
    client.force_login(member)
    response = client.get("/admin/console/backup/")
    assert response.status_code in (302, 403)
