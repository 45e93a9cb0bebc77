import threading
import time

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from audit.chain import GENESIS, SEALED_FIELDS, compute_seal
from audit.models import AuditChain, AuditEvent
from audit.personal import reveal
from audit.selectors import chain_verify
from audit.services import events_seal, record, retention_deletes
from tests.audit.conftest import bypassing_triggers, needs_postgres


@pytest.mark.django_db
def test_events_seal_links_events_in_id_order(recorded):
    events = recorded(5, seal=False)
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 5
    assert events_seal() == 5
    rows = list(AuditEvent.objects.order_by("seq").values("id", "seq", "seal", *SEALED_FIELDS))
    assert [r["id"] for r in rows] == [e.pk for e in events]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    previous = GENESIS
    for row in rows:
        assert row["seal"] == compute_seal(row, row["seq"], previous)
        previous = row["seal"]
    chain = AuditChain.objects.get(pk=1)
    assert (chain.head_seq, chain.head_seal) == (5, previous)


@pytest.mark.django_db
def test_events_seal_is_idempotent_and_continues_the_chain(recorded):
    recorded(3)
    assert events_seal() == 0
    recorded(2, seal=False)
    assert events_seal(batch_size=1) == 2
    assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    assert chain_verify().as_dict() == {
        "ok": True,
        "checked": 5,
        "unsealed": 0,
        "checkpoint_seq": 0,
        "head_seq": 5,
    }


@pytest.mark.django_db
def test_chain_verify_counts_unsealed_events(recorded):
    recorded(2)
    recorded(1, seal=False)
    result = chain_verify()
    assert result.ok and result.checked == 2 and result.unsealed == 1


@pytest.mark.django_db
def test_chain_verify_detects_an_edited_field(recorded):
    events = recorded(5)
    with bypassing_triggers() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET actor_display = %s WHERE id = %s",
            ["someone-else@example.com", events[2].pk],
        )
    result = chain_verify()
    assert not result.ok
    assert result.first_broken == {"seq": 3, "id": str(events[2].uuid), "reason": "seal_mismatch"}
    assert result.checked == 2


@pytest.mark.django_db
def test_chain_verify_detects_an_edited_json_value(recorded):
    events = recorded(3)
    with bypassing_triggers() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET metadata = %s WHERE id = %s",
            ['{"i": 99}', events[1].pk],
        )
    assert chain_verify().first_broken["seq"] == 2


@pytest.mark.django_db
def test_chain_verify_detects_a_deleted_row(recorded):
    events = recorded(5)
    with bypassing_triggers() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    result = chain_verify()
    assert not result.ok
    assert result.first_broken == {"seq": 2, "id": None, "reason": "missing"}


@pytest.mark.django_db
def test_chain_verify_detects_a_deleted_last_row(recorded):
    events = recorded(4)
    with bypassing_triggers() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    result = chain_verify()
    assert result.first_broken == {"seq": 4, "id": None, "reason": "missing"}


@pytest.mark.django_db
def test_chain_verify_detects_a_reordered_row(recorded):
    events = recorded(5)
    a, b = events[1], events[3]
    a_seq, b_seq = 2, 4
    with bypassing_triggers() as cursor:
        # Swap two rows' places in the chain, each keeping its own seal.
        cursor.execute("UPDATE audit_auditevent SET seq = -1 WHERE id = %s", [a.pk])
        cursor.execute("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [a_seq, b.pk])
        cursor.execute("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [b_seq, a.pk])
    result = chain_verify()
    assert not result.ok
    assert result.first_broken == {"seq": 2, "id": str(b.uuid), "reason": "seal_mismatch"}


@pytest.mark.django_db
def test_chain_verify_detects_a_reordered_row_with_swapped_seals(recorded):
    events = recorded(4)
    a, b = (AuditEvent.objects.get(pk=e.pk) for e in events[1:3])
    with bypassing_triggers() as cursor:
        cursor.execute("UPDATE audit_auditevent SET seq = -1 WHERE id = %s", [a.pk])
        cursor.execute(
            "UPDATE audit_auditevent SET seq = %s, seal = %s WHERE id = %s", [a.seq, a.seal, b.pk]
        )
        cursor.execute(
            "UPDATE audit_auditevent SET seq = %s, seal = %s WHERE id = %s", [b.seq, b.seal, a.pk]
        )
    assert chain_verify().first_broken["seq"] == 2


@pytest.mark.django_db
def test_chain_verify_detects_a_forged_head(recorded):
    recorded(3)
    AuditChain.objects.filter(pk=1).update(head_seal="f" * 64)
    assert chain_verify().first_broken == {"seq": 3, "id": None, "reason": "head_mismatch"}


# --- PostgreSQL: the trigger, and sealing without blocking writers --------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_trigger_refuses_a_plain_update_and_delete(recorded):
    needs_postgres()
    sealed, unsealed = recorded(1)[0], recorded(1, seal=False)[0]
    for sql, params in [
        ("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [sealed.pk]),
        ("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [unsealed.pk]),
        ("UPDATE audit_auditevent SET seq = 99, seal = 'ab' WHERE id = %s", [sealed.pk]),
        # The sealer's own shape, but smuggling in an edit:
        (
            "UPDATE audit_auditevent SET seq = 99, seal = 'ab', action = 'x' WHERE id = %s",
            [unsealed.pk],
        ),
        ("DELETE FROM audit_auditevent WHERE id = %s", [sealed.pk]),
        ("DELETE FROM audit_auditevent WHERE id = %s", [unsealed.pk]),
    ]:
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
    assert AuditEvent.objects.get(pk=sealed.pk).action == "test.event"


@pytest.mark.postgres
@pytest.mark.django_db
def test_trigger_refuses_inserting_a_presealed_row():
    needs_postgres()
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot insert"):
        with transaction.atomic():
            AuditEvent.objects.create(
                occurred_at="2026-01-01T00:00:00Z", action="forged", actor_type="system", seq=1
            )


@pytest.mark.postgres
@pytest.mark.django_db
def test_trigger_lets_retention_delete_only_sealed_rows(recorded):
    needs_postgres()
    sealed, unsealed = recorded(2)[0], recorded(1, seal=False)[0]
    with transaction.atomic(), retention_deletes(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [sealed.pk])
    assert not AuditEvent.objects.filter(pk=sealed.pk).exists()
    with pytest.raises(DatabaseError):
        with transaction.atomic(), retention_deletes(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [unsealed.pk])
    # The permission ends with the block, even inside a longer transaction.
    with pytest.raises(DatabaseError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE seq = 2")


def _in_thread(target, *args):
    outcome = {}

    def run():
        try:
            outcome["value"] = target(*args)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sealer_is_single_flight_and_never_blocks_writers():
    needs_postgres()
    for i in range(3):
        record(action="test.event", metadata={"i": i})
    AuditChain.objects.get_or_create(pk=1)  # exists from the migration on; flushed by this test
    held = threading.Event()
    release = threading.Event()

    def slow_sealer():
        with transaction.atomic():
            AuditChain.objects.select_for_update().get(pk=1)  # what a running sealer holds
            held.set()
            release.wait(10)
        return True

    holder, _ = _in_thread(slow_sealer)
    assert held.wait(10)
    try:
        # A second sealer returns at once instead of queueing behind the first.
        started = time.monotonic()
        sealer, sealed = _in_thread(events_seal)
        sealer.join(10)
        assert sealed == {"value": 0}
        # A request writing an event is not slowed by the sealer's lock.
        writer, written = _in_thread(lambda: record(action="test.during_seal").pk)
        writer.join(10)
        assert "value" in written and not writer.is_alive()
        assert time.monotonic() - started < 5
    finally:
        release.set()
        holder.join(10)
    assert events_seal() == 4
    assert chain_verify().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_and_writers_keep_one_chain():
    needs_postgres()
    stop = threading.Event()

    def writer(n):
        for i in range(n):
            record(action="test.concurrent", metadata={"i": i})
        return n

    def sealer():
        total = 0
        while not stop.is_set():
            total += events_seal(batch_size=7)
        return total

    sealers = [_in_thread(sealer) for _ in range(2)]
    writers = [_in_thread(writer, 40) for _ in range(3)]
    for thread, _ in writers:
        thread.join(30)
    stop.set()
    for thread, _ in sealers:
        thread.join(30)
    events_seal()
    assert sum(o["value"] for _, o in sealers) <= 120
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 121))
    assert chain_verify().ok


@pytest.mark.django_db
def test_chain_verify_a_window(recorded):
    events = recorded(10)
    with bypassing_triggers() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [events[2].pk])
    assert chain_verify().first_broken["seq"] == 3
    after = chain_verify(from_seq=5)
    assert after.ok and after.checked == 6
    assert chain_verify(from_seq=2, limit=1).as_dict()["checked"] == 1
    assert chain_verify(from_seq=2, limit=1).ok
    assert chain_verify(from_seq=2, limit=5).first_broken["seq"] == 3
    assert chain_verify(from_seq=99).first_broken == {"seq": 98, "id": None, "reason": "missing"}


@pytest.mark.django_db
def test_record_names_the_impersonating_admin(member, admin_user):
    from django.test import RequestFactory

    request = RequestFactory().post("/account/")
    request.user = member
    request.impersonator = admin_user
    event = record(action="user.updated", request=request, target=member)
    assert event.actor_id == str(member.pk)
    assert event.metadata["impersonator_id"] == str(admin_user.pk)
    # Stored under the admin's own key (erasing the admin erases it), shown decrypted.
    assert event.metadata["impersonator"] != admin_user.email
    assert reveal(event).metadata["impersonator"] == admin_user.email
