from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import tasks
from accounts.models import User
from accounts.services.erasure import user_request_erasure
from audit.models import AuditEvent
from config.celery import app

pytestmark = pytest.mark.django_db


def test_erase_due_accounts_erases_after_the_configured_grace_only(member, other_member, settings):
    settings.ROSTER = {**settings.ROSTER, "ACCOUNT_ERASURE_GRACE_DAYS": 7}
    user_request_erasure(user=member, actor=member)
    start = timezone.now()

    with time_machine.travel(start + timedelta(days=6, hours=23)):
        assert tasks.erase_due_accounts() == 0
    assert User.objects.get(pk=member.pk).erased_at is None

    with time_machine.travel(start + timedelta(days=7, minutes=1)):
        assert tasks.erase_due_accounts() == 1
        assert tasks.erase_due_accounts() == 0  # already erased: nothing left to do
    erased = User.objects.get(pk=member.pk)
    assert erased.erased_at is not None and erased.email.endswith("@erased.invalid")
    assert User.objects.get(pk=other_member.pk).email == "other@example.com"
    assert AuditEvent.objects.filter(action="user.deleted", target_id=str(member.pk)).count() == 1


def test_erase_account_task_is_a_no_op_when_not_due(member):
    user_request_erasure(user=member, actor=member)
    assert tasks.erase_account(str(member.pk)) is False
    assert tasks.erase_account("00000000-0000-0000-0000-000000000000") is False


def test_erase_due_accounts_is_scheduled_by_beat():
    entries = {e["task"] for e in app.conf.beat_schedule.values()}
    assert "accounts.erase_due_accounts" in entries
    assert "accounts.erase_due_accounts" in app.tasks
