# ruff: noqa: S608 - SQL text built from the table names of these tests.
"""Audit events partitioned by month on PostgreSQL: partitions ahead and the default one, the
append-only triggers on every partition, uniqueness of seq and uuid, retention that drops
whole partitions and moves the chain's checkpoint as deleting the rows would, and the
migration both ways."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit.models import AuditChain, AuditEvent
from audit.selectors import chain_verify
from audit.services import (
    events_partitions_ensure,
    events_prune,
    events_seal,
    record,
    retention_deletes,
)
from audit.sql import postgresql
from tests.audit.conftest import bypassing_triggers

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="partitions exist on PostgreSQL only"),
]

# Far from the months the migration creates for the test database, so every partition these
# tests see is one they made.
JAN = datetime(2031, 1, 10, tzinfo=UTC)
FEB = datetime(2031, 2, 10, tzinfo=UTC)
MAR = datetime(2031, 3, 10, tzinfo=UTC)
TRIGGERS = {
    "pgtrigger_audit_insert_unsealed_7d39c",
    "pgtrigger_audit_no_delete_8b8e5",
    "pgtrigger_audit_no_update_29748",
}


def record_at(moment: datetime, n: int, action: str = "test.partitioned") -> list[AuditEvent]:
    with time_machine.travel(moment, tick=False):
        return [record(action=action, metadata={"i": i}) for i in range(n)]


def partition_names() -> list[str]:
    return [name for name, _, _ in postgresql.partitions()]


def partition_of(event: AuditEvent) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM audit_auditevent WHERE id = %s", [event.pk]
        )
        return cursor.fetchone()[0]


def triggers_of(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [table],
        )
        return {name for (name,) in cursor.fetchall()}


def row_by_row_checkpoint(cutoff: datetime) -> tuple[int, str, int]:
    """(seq, seal, count) that deleting the chain's prefix older than ``cutoff`` row by row
    would leave as the checkpoint: computed from the rows, before anything is removed."""
    chain = AuditChain.objects.get(pk=1)
    seq, seal, count = chain.pruned_seq, chain.pruned_seal, 0
    links = AuditEvent.objects.filter(seq__gt=chain.pruned_seq).order_by("seq")
    for link_seq, link_seal, occurred_at in links.values_list("seq", "seal", "occurred_at"):
        if occurred_at >= cutoff:
            break
        seq, seal, count = link_seq, link_seal, count + 1
    return seq, seal, chain.pruned_total + count


def checkpoint() -> tuple[int, str, int]:
    chain = AuditChain.objects.get(pk=1)
    return chain.pruned_seq, chain.pruned_seal, chain.pruned_total


def audit_verify_command() -> dict:
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def months(db):
    """Partitions of January to June 2031 (the default partition catches the rest)."""
    with time_machine.travel(JAN, tick=False):
        created = events_partitions_ensure()
    with time_machine.travel(datetime(2031, 4, 1, tzinfo=UTC), tick=False):
        created += events_partitions_ensure()
    return created


@pytest.mark.django_db
def test_audit_partitions_ensure_creates_the_months_ahead_once_with_the_triggers():
    with time_machine.travel(datetime(2031, 2, 10, tzinfo=UTC), tick=False):
        created = events_partitions_ensure()
        assert created == [f"audit_auditevent_p2031{m:02}" for m in (2, 3, 4, 5)]
        assert events_partitions_ensure() == []
    assert set(created) <= set(partition_names())
    # PostgreSQL clones the partitioned table's row triggers to every partition, new ones too.
    assert triggers_of("audit_auditevent") == TRIGGERS
    for name in [*created, postgresql.DEFAULT_PARTITION]:
        assert triggers_of(name) == TRIGGERS, name


def test_audit_ensure_partitions_task_is_a_beat_entry():
    from config.celery import app

    entry = app.conf.beat_schedule["audit-ensure-partitions"]
    assert entry["task"] == "audit.ensure_partitions"


@pytest.mark.django_db
def test_audit_event_of_a_month_without_partition_is_recorded_in_the_default_one():
    (event,) = record_at(datetime(2040, 7, 1, tzinfo=UTC), 1)
    assert partition_of(event) == "audit_auditevent_default"
    assert events_seal() == 1
    assert chain_verify().ok
    # That month cannot be created while the default holds its rows: skipped, not failed.
    with time_machine.travel(datetime(2040, 7, 2, tzinfo=UTC), tick=False):
        created = events_partitions_ensure()
    assert created == [f"audit_auditevent_p2040{m:02}" for m in (8, 9, 10)]
    assert partition_of(event) == "audit_auditevent_default"


@pytest.mark.django_db
def test_audit_rows_in_a_partition_refuse_update_and_delete_outside_retention(months):
    (sealed,) = record_at(FEB, 1)
    events_seal()
    (unsealed,) = record_at(FEB, 1)
    table = partition_of(sealed)
    assert table == "audit_auditevent_p203102"
    for target in ("audit_auditevent", table):  # through the parent and the partition itself
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot update"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"UPDATE {target} SET action = 'forged' WHERE id = %s", [sealed.pk])
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot update"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {target} SET seq = 99, seal = 'x' WHERE id = %s", [sealed.pk]
                )
        # Moving a row to another month is an UPDATE of occurred_at: refused as well.
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot update"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {target} SET occurred_at = %s WHERE id = %s", [MAR, sealed.pk]
                )
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot delete"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {target} WHERE id = %s", [sealed.pk])
        # Under retention, an unsealed row still cannot go.
        with transaction.atomic(), retention_deletes(), connection.cursor() as cursor:
            with pytest.raises(DatabaseError, match="pgtrigger: Cannot delete"):
                with transaction.atomic():
                    cursor.execute(f"DELETE FROM {target} WHERE id = %s", [unsealed.pk])
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot insert"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {target} SELECT * FROM audit_auditevent WHERE id = %s",
                    [sealed.pk],
                )
    assert AuditEvent.objects.get(pk=sealed.pk).action == "test.partitioned"
    assert chain_verify().ok


@pytest.mark.django_db
def test_audit_seq_is_assigned_once_across_partitions_and_a_forged_repeat_is_caught(months):
    events = record_at(JAN, 2) + record_at(MAR, 2) + record_at(FEB, 2)
    assert events_seal() == 6
    # One sealer under the chain row's lock numbers links in id order, whatever the month.
    seqs = dict(AuditEvent.objects.values_list("id", "seq"))
    assert [seqs[e.pk] for e in events] == [1, 2, 3, 4, 5, 6]
    assert {partition_of(e) for e in events} == {
        "audit_auditevent_p203101",
        "audit_auditevent_p203102",
        "audit_auditevent_p203103",
    }
    # The index is (seq, occurred_at): the same link at the same instant is refused even past
    # the triggers; the same uuid at the same instant likewise.
    first = events[0]
    columns = (
        "occurred_at, action, actor_type, actor_id, actor_display, target_type, target_id, "
        "user_agent, request_id, changes, metadata, seal"
    )
    with bypassing_triggers() as cursor:
        for uuid_value, seq_value in (("gen_random_uuid()", "seq"), ("uuid", "NULL")):
            with pytest.raises(IntegrityError), transaction.atomic():
                cursor.execute(
                    f"INSERT INTO audit_auditevent (uuid, seq, {columns}) "
                    f"SELECT {uuid_value}, {seq_value}, {columns} "
                    "FROM audit_auditevent WHERE id = %s",
                    [first.pk],
                )
    # A repeat of seq in another month can only be written past the triggers, and the
    # verification reports it.
    with bypassing_triggers() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (uuid, occurred_at, action, actor_type, actor_id, "
            "actor_display, target_type, target_id, user_agent, request_id, changes, "
            "metadata, seq, seal) SELECT gen_random_uuid(), %s, action, actor_type, actor_id, "
            "actor_display, target_type, target_id, user_agent, request_id, changes, "
            "metadata, seq, seal FROM audit_auditevent WHERE id = %s",
            [MAR, first.pk],
        )
    assert not chain_verify().ok


@pytest.mark.django_db
def test_audit_retention_drops_whole_months_and_moves_the_checkpoint_as_rows_would(
    months, settings
):
    settings.ROSTER = {**settings.ROSTER, "AUDIT_RETENTION_DAYS": 30}
    record_at(JAN, 4)
    record_at(FEB, 3)
    record_at(MAR, 2)
    record_at(MAR + timedelta(days=10), 2)
    assert events_seal() == 11
    now = datetime(2031, 4, 15, tzinfo=UTC)  # cutoff 16 March: January, February and 10 March
    expected = row_by_row_checkpoint(now - timedelta(days=30))
    assert expected[0] == 9 and expected[2] == 9
    with time_machine.travel(now, tick=False):
        assert events_prune() == 9
    assert checkpoint() == expected
    names = partition_names()
    assert "audit_auditevent_p203101" not in names and "audit_auditevent_p203102" not in names
    assert "audit_auditevent_p203103" in names  # the cutoff's month: its old rows deleted
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == [10, 11]
    result = chain_verify()
    assert result.ok and result.checkpoint_seq == 9 and result.checked == 2
    assert audit_verify_command()["ok"] is True
    # The chain goes on from the checkpoint; a second run finds nothing to remove.
    with time_machine.travel(now, tick=False):
        record(action="test.later")
        events_seal()
        assert events_prune() == 0
    assert chain_verify().ok and chain_verify().checked == 3


@pytest.mark.django_db
def test_audit_retention_drop_takes_links_sealed_among_the_next_month(months):
    """An event of 31 January recorded after one of 1 February is sealed after it: January's
    drop takes the February link sealed among January's (as deleting rows would), and the
    checkpoint is January's last link."""
    jan = record_at(JAN, 3)
    (feb_first,) = record_at(datetime(2031, 2, 1, 0, 0, 1, tzinfo=UTC), 1)
    (late_jan,) = record_at(datetime(2031, 1, 31, 23, 59, 59, tzinfo=UTC), 1)
    feb = record_at(FEB, 2)
    events_seal()
    assert partition_of(late_jan) == "audit_auditevent_p203101"
    assert partition_of(feb_first) == "audit_auditevent_p203102"
    cutoff = datetime(2031, 2, 5, tzinfo=UTC)
    expected = row_by_row_checkpoint(cutoff)
    assert expected[0] == 5  # January's 3, 1 February, then 31 January
    assert events_prune(now=cutoff + timedelta(days=365), days=365) == 5
    assert checkpoint() == expected
    assert "audit_auditevent_p203101" not in partition_names()
    assert set(AuditEvent.objects.values_list("id", flat=True)) == {e.pk for e in feb}
    assert chain_verify().ok
    assert len(jan) == 3


@pytest.mark.django_db
def test_audit_retention_keeps_a_month_with_an_unsealed_event(months):
    record_at(JAN, 3)
    events_seal()
    (pending,) = record_at(JAN, 1)  # old, not sealed yet
    cutoff = datetime(2031, 3, 1, tzinfo=UTC)
    assert events_prune(now=cutoff + timedelta(days=10), days=10) == 3
    assert "audit_auditevent_p203101" in partition_names()
    assert list(AuditEvent.objects.values_list("id", flat=True)) == [pending.pk]
    assert checkpoint()[0] == 3
    events_seal()
    assert chain_verify().ok
    # Sealed now: the next run drops the month with it.
    assert events_prune(now=cutoff + timedelta(days=10), days=10) == 1
    assert checkpoint()[0] == 4
    assert "audit_auditevent_p203101" not in partition_names()
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_audit_migration_converts_the_table_both_ways_keeping_ids_and_chain():
    now = timezone.now()
    events = [
        *record_at(now - timedelta(days=62), 2),
        *record_at(now - timedelta(days=31), 2),
        *record_at(now, 2),
    ]
    events_seal()
    ids = sorted(e.pk for e in events)
    executor = MigrationExecutor(connection)
    executor.migrate([("audit", "0004_subject_keys")])
    assert postgresql.partitions() == []  # one table again
    assert triggers_of("audit_auditevent") == TRIGGERS
    assert sorted(AuditEvent.objects.values_list("id", flat=True)) == ids
    assert chain_verify().ok
    executor = MigrationExecutor(connection)
    executor.migrate([("audit", "0005_partition_audit_events_by_month")])
    assert {partition_of(e) for e in events} == {
        postgresql.partition_name(postgresql.month_start(e.occurred_at)) for e in events
    }
    assert sorted(AuditEvent.objects.values_list("id", flat=True)) == ids
    assert triggers_of("audit_auditevent") == TRIGGERS
    result = chain_verify()
    assert result.ok and result.checked == 6
    # The identity sequence continues after the highest id.
    assert record(action="test.after").pk == ids[-1] + 1
