"""Crypto-shredding: personal values in the audit log are encrypted per person, and erasing
the person (``user_erase``) leaves nothing readable, while the chain still verifies."""

import io
import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory

from accounts.export import user_export
from accounts.services.erasure import user_erase, user_request_erasure
from accounts.services.users import user_create, user_update_profile
from audit import receivers
from audit.masking import MASK
from audit.models import AuditEvent, SubjectKey
from audit.personal import ERASED, is_sealed, reveal, reveal_many
from audit.selectors import chain_verify, csv_verify
from audit.services import events_seal, record
from config.api.renderers import ExactDjangoJSONEncoder

EVENTS = "/api/v1/audit/events"
EMAIL = "jane.roe@example.com"
NEW_EMAIL = "jane.work@example.com"
PERSONAL = (EMAIL, NEW_EMAIL, "Janet", "Roe", "Jane R.", "+16502530000", "jroe", "Research")


def _page_request(path="/accounts/email/", user=None):
    request = RequestFactory().post(path, HTTP_USER_AGENT="pytest")
    if user is not None:
        request.user = user
    return request


def _journey(admin_user):
    """Create, edit, change email, sign in, fail a sign-in: every kind of personal value."""
    user = user_create(
        email=EMAIL, actor=admin_user, password="a long enough passphrase 1", display_name="Jane R."
    )
    user_update_profile(
        user=user,
        data={
            "first_name": "Janet",
            "last_name": "Roe",
            "phone": "+1 (650) 253-0000",
            "username": "jroe",
            "department": "Research",
        },
        actor=user,
    )
    old, new = SimpleNamespace(email=EMAIL), SimpleNamespace(email=NEW_EMAIL)
    receivers.on_email_added(None, _page_request(), user, new)
    receivers.on_email_confirmed(None, _page_request(), SimpleNamespace(email=NEW_EMAIL, user=user))
    receivers.on_email_changed(None, _page_request(), user, old, new)
    receivers.on_user_logged_in(None, _page_request("/accounts/login/"), user)
    receivers.on_user_login_failed(None, {"email": EMAIL}, _page_request("/accounts/login/"))
    return user


def _erase(user):
    user_request_erasure(user=user, actor=user)
    user.refresh_from_db()
    assert user_erase(user_id=user.pk, now=user.erasure_due_at + timedelta(1))


def _raw_rows() -> str:
    """Every stored personal column of every event, as the database holds it, with each
    sealed value shown as ``pii:…`` (base64 ciphertext can spell a short name by chance)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT actor_display, changes, metadata FROM audit_auditevent")
        raw = json.dumps(cursor.fetchall(), default=str)
    return re.sub(r"pii:gAAAAA[A-Za-z0-9_=-]+", "pii:…", raw)


def _api(client, user) -> str:
    response = client.get(EVENTS, {"target": str(user.pk), "page_size": 200})
    assert response.status_code == 200
    body = response.content.decode() + client.get(EVENTS, {"actor": str(user.pk)}).content.decode()
    return body


def _admin_pages(admin_client, user) -> str:
    base = "/admin/audit/auditevent/"
    listing = admin_client.get(base, {"target_id": str(user.pk)})
    assert listing.status_code == 200
    pages = [listing.content.decode()]
    for event in AuditEvent.objects.filter(target_id=str(user.pk)):
        detail = admin_client.get(f"{base}{event.pk}/change/")
        assert detail.status_code == 200
        pages.append(detail.content.decode())
    return "".join(pages)


def _admin_csv(admin_client, user) -> list[str]:
    response = admin_client.get("/admin/audit/auditevent/export/", {"target_id": str(user.pk)})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode().splitlines(keepends=True)


@pytest.mark.django_db
def test_erasure_leaves_no_personal_data_in_the_audit_log(admin_user, client_for, tmp_path):
    user = _journey(admin_user)
    events_seal()
    admin_api = client_for(admin_user)
    admin_client = Client()
    admin_client.force_login(admin_user)

    # Stored encrypted from the start, shown decrypted to whoever may read the event.
    raw = _raw_rows()
    assert not [value for value in PERSONAL if value in raw]
    shown = _api(admin_api, user) + _admin_pages(admin_client, user)
    csv_text = "".join(_admin_csv(admin_client, user))
    assert csv_text.splitlines()[0].endswith("changes_sealed,metadata_sealed")
    assert EMAIL in csv_text and "+16502530000" in csv_text  # the readable columns
    shown += csv_text
    # Written as the download writes it (usage figures are exact decimals).
    shown += json.dumps(user_export(user=user), cls=ExactDjangoJSONEncoder)
    assert [value for value in PERSONAL if value not in shown] == []
    assert ERASED not in shown

    _erase(user)
    events_seal()
    assert not SubjectKey.objects.filter(subject_id=str(user.pk)).exists()

    raw = _raw_rows()
    api = _api(admin_api, user)
    pages = _admin_pages(admin_client, user)
    csv_lines = _admin_csv(admin_client, user)
    export = json.dumps(user_export(user=user), cls=ExactDjangoJSONEncoder)
    for where, text in {
        "database": raw,
        "api": api,
        "admin": pages,
        "csv": "".join(csv_lines),
        "export": export,
    }.items():
        assert [value for value in PERSONAL if value in text] == [], where
    assert ERASED in api and ERASED in pages and ERASED in export
    # The history is still there, under the pseudonymous id, and still verifies.
    listed = json.loads(admin_api.get(EVENTS, {"target": str(user.pk)}).content)["results"]
    created = next(e for e in listed if e["action"] == "user.created")
    assert created["changes"]["email"] == [None, ERASED]
    assert created["changes"]["display_name"] == [None, ERASED]
    assert created["actor"]["display"] == admin_user.email  # the admin was not erased
    assert chain_verify().ok
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True
    export_file = tmp_path / "audit.csv"
    export_file.write_text("".join(csv_lines), encoding="utf-8")
    for offline in (False, True):
        args = ["--csv", str(export_file), *(["--offline"] if offline else [])]
        call_command("audit_verify", *args, stdout=io.StringIO())
    assert csv_verify(csv_lines, against_database=False).ok


@pytest.mark.django_db
def test_record_encrypts_personal_values_under_the_target_user(member, admin_user):
    event = record(
        action="user.updated",
        actor=admin_user,
        target=member,
        changes={"display_name": ["Old", "New"], "status": ["active", "suspended"]},
        metadata={"email": member.email, "reason": "typo"},
    )
    assert is_sealed(event.actor_display) and is_sealed(event.metadata["email"])
    assert [is_sealed(v) for v in event.changes["display_name"]] == [True, True]
    assert event.changes["status"] == ["active", "suspended"]  # not personal: plain
    assert event.metadata["reason"] == "typo"
    shown = reveal(AuditEvent.objects.get(pk=event.pk))
    assert shown.actor_display == admin_user.email
    assert shown.changes == {"display_name": ["Old", "New"], "status": ["active", "suspended"]}
    assert shown.metadata == {"email": member.email, "reason": "typo"}
    # Erasing the target shreds its values, not the acting admin's display.
    SubjectKey.objects.filter(subject_id=str(member.pk)).delete()
    shown = reveal(AuditEvent.objects.get(pk=event.pk))
    assert shown.actor_display == admin_user.email
    assert shown.changes["display_name"] == [ERASED, ERASED]
    assert shown.metadata["email"] == ERASED


@pytest.mark.django_db
def test_admin_edit_of_a_users_row_is_encrypted_under_that_user(member, admin_user):
    event = record(
        action="admin.account.emailaddress.updated",
        actor=admin_user,
        target=("emailaddress", "7"),
        changes={"email": [member.email, "new@example.com"], "user": [str(member.pk)] * 2},
        metadata={"door": "admin", "object_repr": "new@example.com"},
    )
    stored = json.dumps([event.changes, event.metadata])
    assert member.email not in stored and "new@example.com" not in stored
    assert reveal(event).metadata["object_repr"] == "new@example.com"
    SubjectKey.objects.filter(subject_id=str(member.pk)).delete()
    shown = reveal(AuditEvent.objects.get(pk=event.pk))
    assert shown.changes["email"] == [ERASED, ERASED] and shown.metadata["object_repr"] == ERASED
    # A slot's name is no one's personal data: kept as it is.
    slot_event = record(
        action="admin.slots.slot.updated",
        actor=admin_user,
        target=("slot", "9"),
        metadata={"door": "admin", "object_repr": "prod"},
    )
    assert slot_event.metadata["object_repr"] == "prod"


@pytest.mark.django_db
def test_record_masks_secrets_and_never_encrypts_them(member):
    event = record(
        action="user.updated",
        actor=member,
        target=member,
        changes={"password": ["x", "y"], "display_name": [None, "rst_abcdefghijklmnop"]},
        metadata={"email": "eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", "token": "t0k3n"},
    )
    assert event.changes["password"] == MASK
    assert event.changes["display_name"] == [None, MASK]
    assert event.metadata == {"email": MASK, "token": MASK}
    assert "rst_abcdefgh" not in json.dumps(reveal(event))


@pytest.mark.django_db
def test_events_about_nobody_stay_as_they_are(db):
    receivers.on_user_login_failed(
        None, {"email": "nobody@example.com"}, _page_request("/accounts/login/")
    )
    event = AuditEvent.objects.get(action="auth.login.failed")
    assert event.metadata["identifier"] == "nobody@example.com"
    assert SubjectKey.objects.count() == 0


@pytest.mark.django_db
def test_one_key_per_person_created_on_first_use(member, other_member):
    record(action="test.plain", actor=None, metadata={"n": 1})
    assert SubjectKey.objects.count() == 0  # nothing personal, no key
    for _ in range(3):
        record(action="user.updated", actor=member, target=member, changes={"phone": ["", "1"]})
    record(action="auth.logout", actor=other_member, target=other_member)
    assert sorted(SubjectKey.objects.values_list("subject_id", flat=True)) == sorted(
        [str(member.pk), str(other_member.pk)]
    )


@pytest.mark.django_db
def test_impersonator_is_encrypted_under_the_admins_own_key(member, admin_user):
    request = RequestFactory().post("/account/")
    request.user = member
    request.impersonator = admin_user
    event = record(action="user.updated", request=request, target=member)
    SubjectKey.objects.filter(subject_id=str(admin_user.pk)).delete()
    shown = reveal(AuditEvent.objects.get(pk=event.pk))
    assert shown.metadata["impersonator"] == ERASED
    assert shown.actor_display == member.email


@pytest.mark.django_db
def test_reveal_many_loads_every_key_in_one_query(
    admin_user, django_assert_num_queries, django_user_model
):
    from tests.factories import UserFactory

    users = [UserFactory() for _ in range(12)]
    for user in users:
        record(action="user.updated", actor=user, target=user, changes={"phone": ["", "+1"]})
    events = list(AuditEvent.objects.order_by("id"))
    with django_assert_num_queries(1):
        shown = reveal_many(events)
    assert [s.actor_display for s in shown] == [u.email for u in users]


@pytest.mark.django_db
def test_audit_events_list_query_count_is_flat_across_many_people(
    client_for, admin_user, django_assert_max_num_queries
):
    from tests.factories import UserFactory

    for user in [UserFactory() for _ in range(25)]:
        record(action="user.updated", actor=user, target=user, changes={"last_name": ["", "X"]})
    client = client_for(admin_user)
    with django_assert_max_num_queries(11):
        response = client.get(EVENTS, {"page_size": 200})
    results = response.json()["results"]
    assert len(results) >= 25
    assert {r["changes"]["last_name"][1] for r in results if r["action"] == "user.updated"} == {"X"}


@pytest.mark.django_db
def test_security_log_page_shows_the_readable_values(member):
    user_update_profile(user=member, data={"first_name": "Memo"}, actor=member)
    web = Client()
    web.force_login(member)
    html = web.get("/account/security-log/").content.decode()
    assert "Memo" in html and member.email in html
    assert "pii:" not in html


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_events_share_one_key():
    import threading
    import time

    from django.db import connections, transaction

    from tests.audit.conftest import needs_postgres
    from tests.factories import UserFactory

    needs_postgres()
    user = UserFactory()
    first_in = threading.Event()
    errors = []

    def run(body):
        try:
            body()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    def first():
        with transaction.atomic():
            record(action="user.updated", actor=user, target=user, changes={"phone": ["", "1"]})
            first_in.set()
            time.sleep(0.5)  # the second writer now waits on the unique index

    def second():
        assert first_in.wait(10)
        with transaction.atomic():
            record(action="user.updated", actor=user, target=user, changes={"phone": ["1", "2"]})

    threads = [threading.Thread(target=run, args=(body,)) for body in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert errors == []
    assert SubjectKey.objects.filter(subject_id=str(user.pk)).count() == 1
    events = list(AuditEvent.objects.filter(action="user.updated").order_by("id"))
    assert [s.changes["phone"] for s in reveal_many(events)] == [["", "1"], ["1", "2"]]


@pytest.mark.django_db(transaction=True)
def test_write_key_cache_never_keeps_a_rolled_back_key(user_factory):
    """A key created in a transaction that rolls back is never used again: the next event
    gets a key that exists, and its values stay readable."""
    from django.db import transaction

    from audit import personal
    from audit.models import AuditEvent, SubjectKey
    from audit.services import record

    user = user_factory(email="rolled-back@example.com")
    SubjectKey.objects.filter(subject_id=str(user.pk)).delete()
    personal._write_keys.clear()
    try:
        with transaction.atomic():
            record(action="test.personal", actor=user, target=user, changes={"phone": ["", "+41"]})
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert str(user.pk) not in personal._write_keys
    event = record(action="test.personal", actor=user, target=user, changes={"phone": ["", "+41"]})
    assert str(user.pk) in personal._write_keys  # committed (autocommit): now remembered
    revealed = personal.reveal(AuditEvent.objects.get(pk=event.pk))
    assert revealed.changes == {"phone": ["", "+41"]}
    assert revealed.actor_display == user.email
