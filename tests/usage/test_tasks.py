from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from config.celery import app
from usage import tasks
from usage.models import Meter, QuotaCrossing, UsageEvent

pytestmark = pytest.mark.django_db


def test_beat_schedules_the_rollup_often_and_the_purge_daily():
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert 10 <= schedule["usage.rollup"] <= 30
    assert schedule["usage.purge_events"] == 24 * 3600
    assert {"usage.rollup", "usage.purge_events", "usage.check_quota"} <= set(app.tasks)


def test_beat_schedules_the_events_partitions_ahead_daily(settings):
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["usage.ensure_partitions"] == 24 * 3600
    # Created: on PostgreSQL the months not there yet, on SQLite (one table) none.
    with time_machine.travel(datetime(2036, 6, 15, tzinfo=UTC), tick=False):
        created = tasks.ensure_partitions.delay().get()
    assert created == (4 if settings.IS_POSTGRES else 0)


def test_rollup_task_rolls_events_and_rechecks_quotas(member, ingest):
    Meter.objects.filter(key="tokens.input").update(limit=10)
    ingest(
        member, {"meter": "tokens.input", "quantity": 8}, {"meter": "tokens.input", "quantity": 8}
    )
    assert not QuotaCrossing.objects.exists()  # the after-commit check never ran here
    assert tasks.rollup.delay().get() == 2
    assert not UsageEvent.objects.filter(rolled_at__isnull=True).exists()
    assert QuotaCrossing.objects.filter(user=member).count() == 1
    assert tasks.rollup.delay().get() == 0
    assert AuditEvent.objects.filter(action="usage.quota.exceeded").count() == 1


def test_check_quota_task_takes_ids(member, ingest, meters):
    Meter.objects.filter(key="tokens.output").update(limit=1)
    ingest(member, {"meter": "tokens.output", "quantity": 2})
    assert tasks.check_quota.delay(str(member.pk), [meters["tokens.output"].id]).get() == 1
    assert tasks.check_quota.delay(str(member.pk), [meters["tokens.output"].id]).get() == 0


def test_check_quota_task_for_a_vanished_user_is_a_no_op(meters):
    missing = "7b0f3c1e-5d2a-4f7e-9a31-0c8d2e4f6a10"
    assert tasks.check_quota.delay(missing, [meters["tokens.output"].id]).get() == 0


def test_purge_task_deletes_old_rolled_events(member, ingest, settings):
    settings.ROSTER = {**settings.ROSTER, "USAGE_RETENTION_DAYS": 3}
    with time_machine.travel(timezone.now() - timedelta(days=5)):
        ingest(member, {"meter": "api.requests"})
    ingest(member, {"meter": "api.requests"})
    assert tasks.purge_events.delay().get() == 0  # nothing rolled yet: nothing goes
    tasks.rollup.delay().get()
    assert tasks.purge_events.delay().get() == 1
    assert UsageEvent.objects.count() == 1
