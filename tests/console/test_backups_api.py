"""/api/v1/admin/backups: platform admins only; precise 400s; downloads and deletes audited."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.apikeys import api_key_create
from audit.models import AuditEvent
from console.backups import services
from console.models import Backup
from tests.factories import UserFactory

URL = "/api/v1/admin/backups"


@pytest.fixture(autouse=True)
def _backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_ENCRYPTION_KEYS = []


def test_backups_api_anonymous_is_401(anon_client):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.post(URL, {"backup_type": "full"}, format="json").status_code == 401


def test_backups_api_member_is_403(client_for, member):
    client = client_for(member)
    assert client.get(URL).status_code == 403
    response = client.post(URL, {"backup_type": "full"}, format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert not Backup.objects.exists()


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"backup_type": "nightly"}, "backup_type", "invalid_choice"),
        ({"backup_type": "selective"}, "apps", "required"),
        ({"backup_type": "selective", "apps": ["nope"]}, "apps.0", "invalid_choice"),
        ({"backup_type": "full", "apps": ["audit"]}, "apps", "not_allowed"),
        ({"backup_type": "full", "retention_days": -1}, "retention_days", "min_value"),
        ({"backup_type": "full", "retention_days": "7"}, "retention_days", "invalid"),
        ({"backup_type": "full", "include_database": False}, "include_database", "invalid"),
        ({"backup_type": "full", "encryption_enabled": 0}, "encryption_enabled", "invalid"),
        ({"backup_type": "full", "include_files": "true"}, "include_files", "invalid"),
        ({"backup_type": "full", "color": "red"}, "color", "unknown_field"),
    ],
)
def test_backups_api_bad_input_is_a_precise_400(client_for, admin_user, body, attr, code):
    response = client_for(admin_user).post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert [(e["attr"], e["code"]) for e in errors] == [(attr, code)]
    assert not Backup.objects.exists()


def test_backups_api_incremental_without_base_is_409(client_for, admin_user):
    response = client_for(admin_user).post(URL, {"backup_type": "incremental"}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "no_base"


def test_backups_api_encryption_without_keys_is_409(client_for, admin_user):
    body = {"backup_type": "full", "encryption_enabled": True}
    response = client_for(admin_user).post(URL, body, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "encryption_not_configured"


def test_backups_api_unknown_backup_is_404(client_for, admin_user):
    client = client_for(admin_user)
    missing = client.get(
        f"{URL}/00000000-0000-0000-0000-000000000000/download",
        HTTP_ACCEPT="application/octet-stream",
    )
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
    assert client.get(f"{URL}/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get(f"{URL}/not-a-uuid").status_code == 404


def test_backups_api_api_key_is_refused(admin_user):
    _, raw = api_key_create(user=admin_user, name="k", scopes=["profile:read"], actor=admin_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "api_key_not_allowed"


@pytest.mark.django_db(transaction=True)
def test_backups_api_create_runs_proves_lists_downloads_and_deletes(client_for):
    admin = UserFactory(email="admin@example.com", roles=["admin"])
    client = client_for(admin)

    response = client.post(URL, {"backup_type": "full", "retention_days": 7}, format="json")

    assert response.status_code == 202, response.json()
    backup_id = response.json()["id"]
    assert response.json()["status"] == "pending"  # the answer is given before the worker runs
    shown = client.get(f"{URL}/{backup_id}").json()
    assert shown["status"] == "ready"
    assert shown["backup_type"] == "full" and shown["base"] is None
    assert shown["size"] > 0 and len(shown["sha256"]) == 64 and shown["encrypted"] is False
    assert shown["verified"]["ok"] is True, shown["verified"]
    assert shown["verified"]["at"].endswith("Z")
    assert shown["expires_at"].endswith("Z")
    listed = client.get(URL).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == backup_id

    incremental = client.post(URL, {"backup_type": "incremental"}, format="json").json()
    assert client.get(f"{URL}/{incremental['id']}").json()["base"] == backup_id

    download = client.get(f"{URL}/{backup_id}/download", HTTP_ACCEPT="application/octet-stream")
    assert download.status_code == 200
    assert download["ETag"] == f'"{shown["sha256"]}"'
    body = b"".join(download.streaming_content)
    assert body.startswith(b"ROSTER-BACKUP\n")
    assert "attachment" in download["Content-Disposition"]
    assert AuditEvent.objects.filter(
        action="console.backup.downloaded", actor_id=str(admin.pk), target_id=backup_id
    ).exists()

    refused = client.delete(f"{URL}/{backup_id}")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "has_increments"
    assert client.delete(f"{URL}/{incremental['id']}").status_code == 204
    path = services.backup_path(Backup.objects.get(pk=backup_id))
    assert client.delete(f"{URL}/{backup_id}/").status_code == 204
    assert not path.exists()
    assert not Backup.objects.exists()
    assert AuditEvent.objects.filter(action="console.backup.deleted").count() == 2
    assert (
        AuditEvent.objects.filter(action="console.backup.created", actor_id=str(admin.pk)).count()
        == 2
    )
