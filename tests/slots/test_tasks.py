from datetime import timedelta

import time_machine
from django.utils import timezone

from config.celery import app
from slots import services, tasks
from slots.models import Slot


def test_suspend_idle_slots_task_suspends_idle_slots(member, settings):
    settings.ROSTER = {**settings.ROSTER, "SLOT_IDLE_SUSPEND_SECONDS": 600}
    slot = services.slot_create(owner=member, type="workspace", name="w", config={}, actor=member)

    assert tasks.suspend_idle_slots.delay().get() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert tasks.suspend_idle_slots.delay().get() == 1
        # Running it again (a retry, a second beat) changes nothing.
        assert tasks.suspend_idle_slots.delay().get() == 0

    slot.refresh_from_db()
    assert slot.status == Slot.Status.SUSPENDED


def test_suspend_idle_slots_is_scheduled_by_beat():
    entries = {e["task"]: e for e in app.conf.beat_schedule.values()}
    assert "slots.suspend_idle_slots" in entries
    assert entries["slots.suspend_idle_slots"]["task"] in app.tasks
