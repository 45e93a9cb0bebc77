from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

from audit.services import events_seal, record


@pytest.fixture
def recorded(db):
    """``recorded(n)``: n plain events, sealed unless ``seal=False``."""

    def make(n: int, *, seal: bool = True, action: str = "test.event", **kwargs):
        events = [record(action=action, metadata={"i": i}, **kwargs) for i in range(n)]
        if seal:
            events_seal()
        return events

    return make


@contextmanager
def bypassing_triggers():
    """What an attacker with superuser access to PostgreSQL could do: edit past the trigger.

    On SQLite there is no trigger to bypass."""
    if not settings.IS_POSTGRES:
        with connection.cursor() as cursor:
            yield cursor
        return
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def needs_postgres():
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL (triggers, row locks)")
