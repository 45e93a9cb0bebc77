import datetime
import io

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import tasks
from audit.models import AuditChain, AuditEvent
from audit.selectors import chain_verify
from audit.services import events_prune, events_seal, record
from tests.audit.conftest import bypassing_triggers

T0 = datetime.datetime(2025, 1, 1, 12, 0, tzinfo=datetime.UTC)


def _record_at(when, n, action="test.old"):
    with time_machine.travel(when, tick=False):
        for i in range(n):
            record(action=action, metadata={"i": i})


@pytest.mark.django_db
def test_seal_events_task_seals_pending_events():
    _record_at(T0, 3)
    assert tasks.seal_events.delay().get() == 3
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()


@pytest.mark.django_db
def test_prune_keeps_young_events_and_the_chain_verifiable(settings):
    settings.ROSTER = {**settings.ROSTER, "AUDIT_RETENTION_DAYS": 30}
    _record_at(T0, 5, "test.old")
    _record_at(T0 + datetime.timedelta(days=20), 3, "test.young")
    events_seal()
    with time_machine.travel(T0 + datetime.timedelta(days=40), tick=False):
        assert tasks.prune_events.delay().get() == 5
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"test.young"}
    chain = AuditChain.objects.get(pk=1)
    assert (chain.pruned_seq, chain.pruned_total) == (5, 5)
    assert chain.pruned_seal and chain.pruned_seal != chain.head_seal
    result = chain_verify()
    assert result.ok and result.checked == 3 and result.checkpoint_seq == 5
    # New events keep extending the same chain after the checkpoint.
    record(action="test.later")
    events_seal()
    assert chain_verify().ok and chain_verify().checked == 4


@pytest.mark.django_db
def test_prune_runs_in_batches_and_is_safe_to_repeat():
    _record_at(T0, 12)
    events_seal()
    now = T0 + datetime.timedelta(days=400)
    assert events_prune(now=now, days=365, batch_size=5) == 12
    assert events_prune(now=now, days=365, batch_size=5) == 0
    assert AuditChain.objects.get(pk=1).pruned_total == 12
    assert chain_verify().ok


@pytest.mark.django_db
def test_prune_never_removes_unsealed_events():
    _record_at(T0, 2)
    events_seal()
    _record_at(T0, 2)  # old, but not sealed yet
    assert events_prune(now=T0 + datetime.timedelta(days=400), days=365) == 2
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 2
    events_seal()
    assert chain_verify().ok


@pytest.mark.django_db
def test_prune_then_tampering_after_the_checkpoint_is_detected():
    _record_at(T0, 4)
    _record_at(T0 + datetime.timedelta(days=390), 3)
    events_seal()
    assert events_prune(now=T0 + datetime.timedelta(days=400), days=365) == 4
    first_kept = AuditEvent.objects.order_by("seq").first()
    with bypassing_triggers() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET action = 'test.edited' WHERE id = %s", [first_kept.pk]
        )
    assert chain_verify().first_broken["seq"] == 5


@pytest.mark.django_db
def test_audit_verify_command_reports_ok_and_broken():
    _record_at(T0, 3)
    out = io.StringIO()
    call_command("audit_verify", "--seal-first", stdout=out)
    assert '"ok": true' in out.getvalue() and '"checked": 3' in out.getvalue()
    event = AuditEvent.objects.order_by("seq").first()
    with bypassing_triggers() as cursor:
        cursor.execute("UPDATE audit_auditevent SET ip = '10.0.0.1' WHERE id = %s", [event.pk])
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify", stdout=out)
    assert failure.value.returncode == 1
    assert '"reason": "seal_mismatch"' in out.getvalue()


@pytest.mark.django_db
def test_audit_verify_command_reports_an_unreadable_csv():
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("audit_verify", "--csv", "/nonexistent/export.csv", stdout=io.StringIO())
