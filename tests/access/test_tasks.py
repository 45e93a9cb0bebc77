"""The periodic expiry task: scheduled in beat, and it calls the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from access.models import Grant
from access.services import requests as svc
from access.tasks import expire_due
from config.celery import app

pytestmark = pytest.mark.django_db


def test_expire_due_is_scheduled_and_marks_grants(world, db_resource):
    assert app.conf.beat_schedule["access-expire-due"]["task"] == expire_due.name
    req = svc.request_submit(
        organization=world.org,
        requester=world.member,
        resource="production-db",
        access_level="read",
        justification="x",
        duration_days=1,
    )
    svc.request_review(access_request=req, reviewer=world.admin, action="approve")
    grant = Grant.objects.get()
    with time_machine.travel(grant.expires_at + timedelta(minutes=1), tick=False):
        assert expire_due.apply().get() == {"expired": 1, "lapsed": 0, "expiring": 0}
    grant.refresh_from_db()
    assert grant.status == "expired" and grant.ended_at == grant.expires_at
