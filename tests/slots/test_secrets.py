"""A slot credential's secret never leaves the server: not in any slot API response, not in
the admin, not in the audit log, not in the logs, not stored in clear."""

import json
import logging

import pytest
from django.test import Client

from audit.models import AuditEvent
from slots.models import SlotCredential
from slots.selectors import slots_export_for_user

SECRETS = {
    "api_key": {"kind": "api_key", "api_key": "sk-LEAK-apikey-7f3a9c2e5b1d"},
    "basic": {"kind": "basic", "username": "LEAK-user-name", "password": "LEAK-pass-9d8c7b6a"},
    "oauth": {
        "kind": "oauth",
        "client_id": "LEAK-client-id-42",
        "client_secret": "LEAK-client-secret-5e4d3c",
        "access_token": "LEAK-access-token-abc123",
        "refresh_token": "LEAK-refresh-token-def456",
    },
}
SECRET_VALUES = [v for creds in SECRETS.values() for k, v in creds.items() if k != "kind"]


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRET_VALUES:
        assert secret not in text, f"{secret!r} leaked in {where}"


@pytest.mark.django_db
def test_slot_credentials_never_leave_the_server(client_for, member, user_factory, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(member)
    seen: list[tuple[str, str]] = []

    def call(method: str, path: str, data=None):
        response = getattr(client, method)(path, data, format="json")
        assert response.status_code < 500, response.content
        seen.append((f"{method.upper()} {path}", response.content.decode()))
        return response

    slot_ids = []
    for i, kind in enumerate(SECRETS):
        body = call("post", "/api/v1/slots", {"type": "workspace", "name": f"s{i}"}).json()
        slot_ids.append(body["id"])
        url = f"/api/v1/slots/{body['id']}"
        assert call("put", f"{url}/credentials", SECRETS[kind]).status_code == 204
        # Replaying with a bad field still must not echo the secret back.
        call("put", f"{url}/credentials", {**SECRETS[kind], "bogus": SECRET_VALUES[0]})
        call("get", url)
        call("patch", url, {"name": f"renamed-{i}"})
        call("post", f"{url}/heartbeat")
        call("post", f"{url}/suspend")
        call("post", f"{url}/resume")
    call("get", "/api/v1/slots")
    call("get", "/api/v1/slots?status=active")
    call("get", "/api/v1/slot-types")

    hints = {s["credentials"]["hint"] for s in call("get", "/api/v1/slots").json()["results"]}
    assert hints == {"5b1d", "7b6a", "4d3c"}

    # The admin, as a superuser (with the admin role, which lets them read every audit event):
    # changelist and each change form.
    root = user_factory(
        email="root@example.com", roles=("admin",), is_superuser=True, is_staff=True
    )
    admin = Client()
    admin.force_login(root)
    pages = [admin.get("/admin/slots/slot/")]
    pages += [admin.get(f"/admin/slots/slot/{slot_id}/change/") for slot_id in slot_ids]
    pages += [admin.get(f"/admin/slots/slot/{slot_id}/history/") for slot_id in slot_ids]
    # The audit log's admin: the list, every event's page and the CSV export.
    pages.append(admin.get("/admin/audit/auditevent/?q=slot."))
    pages += [
        admin.get(f"/admin/audit/auditevent/{pk}/change/")
        for pk in AuditEvent.objects.filter(action__startswith="slot.").values_list("pk", flat=True)
    ]
    for page in pages:
        assert page.status_code == 200
        seen.append(("admin", page.content.decode()))
    export = admin.get("/admin/audit/auditevent/export/?q=slot.")
    assert export.status_code == 200
    csv_text = b"".join(export.streaming_content).decode()
    assert csv_text.count("slot.credentials.changed") == 3
    seen.append(("admin audit CSV export", csv_text))
    assert "7b6a" in pages[0].content.decode()  # the hint, and only the hint

    # Release the last one through the API too (credentials are erased).
    call("delete", f"/api/v1/slots/{slot_ids[-1]}")
    call("get", f"/api/v1/slots/{slot_ids[-1]}")

    for where, text in seen:
        _assert_clean(text, where)
    for event in AuditEvent.objects.all():
        row = json.dumps(
            {
                "action": event.action,
                "changes": event.changes,
                "metadata": event.metadata,
                "actor": event.actor_display,
                "target": event.target_id,
                "ua": event.user_agent,
            }
        )
        _assert_clean(row, f"audit event {event.action}")
    assert AuditEvent.objects.filter(action="slot.credentials.changed").count() == 3
    _assert_clean(json.dumps(slots_export_for_user(user=member)), "the export")
    _assert_clean("\n".join(r.getMessage() for r in caplog.records), "the logs")
    for row in SlotCredential.objects.all():
        _assert_clean(row.ciphertext + row.hint, "the stored row")
