"""A revocation marker survives a racing "live" marker written by another process.

A request that read the database just before a logout writes the session's live marker
while the logout writes its revoked marker. On the embedded file cache ``add()`` is a
read followed by a write, so a single shared key could end up "live" again for minutes.
Two forked processes (sharing the configured cache, file or Redis) race each other many
times; after every round the revoked session must be refused.
"""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts import sessions

pytestmark = pytest.mark.django_db

ROUNDS = 300


def _racer(barrier, role: str, session_id: str, rounds: int) -> None:
    for _ in range(rounds):
        barrier.wait()
        if role == "live":
            sessions.mark_api_session_live(session_id)
        else:
            sessions.mark_api_sessions_revoked([session_id])
        barrier.wait()


def test_revoked_marker_is_never_replaced_by_a_racing_live_marker(member):
    session = sessions.api_session_create(
        user=member, ip=None, user_agent="t", expires_at=timezone.now() + timedelta(days=1)
    )
    session_id = str(session.pk)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3, timeout=30)
    racers = [
        context.Process(target=_racer, args=(barrier, role, session_id, ROUNDS))
        for role in ("live", "revoked")
    ]
    for racer in racers:
        racer.start()
    revived = 0
    try:
        for _ in range(ROUNDS):
            cache.clear()
            barrier.wait()
            barrier.wait()
            # Nothing in the database says revoked: only the cache's answer counts here.
            if sessions.api_session_is_live(session_id):
                revived += 1
    finally:
        for racer in racers:
            racer.join(timeout=30)
    assert [racer.exitcode for racer in racers] == [0, 0]
    assert revived == 0
