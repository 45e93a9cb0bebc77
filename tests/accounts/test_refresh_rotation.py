"""Refresh in one conditional UPDATE: the common rotation spends the presented token and
reads the session in one statement (no locking read first), keeps the session's lifetimes
exactly, and a token presented twice, one after the other or at the same moment, is still
reuse that revokes the session."""

from __future__ import annotations

import threading
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiSession
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def _statements(queries) -> list[str]:
    """The SQL statements run, without the transaction's own (BEGIN, COMMIT, savepoints)."""
    kinds = []
    for query in queries:
        verb = query["sql"].lstrip().split(None, 1)[0].upper()
        if verb not in {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"}:
            kinds.append(query["sql"])
    return kinds


def test_a_refresh_is_one_read_of_the_user_one_update_and_its_audit_event(member):
    first = tokens.token_issue(user=member)

    with CaptureQueriesContext(connection) as queries:
        second = tokens.token_refresh(raw_refresh=first.refresh)

    statements = _statements(queries.captured_queries)
    sessions = [s for s in statements if "accounts_apisession" in s]
    users = [s for s in statements if s.startswith("SELECT") and "accounts_user" in s]
    events = [s for s in statements if s.startswith("INSERT") and "audit_auditevent" in s]
    assert len(users) == 1 and len(events) == 1, statements
    # The session row: one UPDATE that spends the token, no locking read before it.
    assert len(sessions) == 1 and sessions[0].startswith("UPDATE"), sessions
    assert not any("FOR UPDATE" in s.upper() for s in statements)
    session = ApiSession.objects.get(pk=first.session_id)
    assert second.session_id == first.session_id
    assert session.refresh_jti == _jti(second.refresh) != _jti(first.refresh)
    assert session.revoked_at is None
    event = AuditEvent.objects.get(action="auth.token.refreshed")
    assert event.target_type == "apisession" and event.target_id == first.session_id


def test_the_spent_token_presented_again_is_reuse_and_ends_the_session(member):
    first = tokens.token_issue(user=member)
    second = tokens.token_refresh(raw_refresh=first.refresh)

    with pytest.raises(tokens.TokenRejected) as reused:
        tokens.token_refresh(raw_refresh=first.refresh)
    assert reused.value.code == "token_reused"
    session = ApiSession.objects.get(pk=first.session_id)
    assert session.revoked_at is not None and session.revoke_reason == "refresh_reused"
    with pytest.raises(tokens.TokenRejected) as revoked:
        tokens.token_refresh(raw_refresh=second.refresh)
    assert revoked.value.code == "token_revoked"


def test_another_users_session_is_not_rotated(member, other_member):
    pair = tokens.token_issue(user=member)
    claims = tokens.decode_typed(pair.refresh, "refresh")

    assert tokens._rotate_at_once({**claims, "sub": str(other_member.pk)}, request=None) is None
    assert ApiSession.objects.get(pk=pair.session_id).refresh_jti == claims["jti"]


def test_the_idle_window_moves_and_the_absolute_deadline_holds(member, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "REFRESH_TOKEN_LIFETIME": timedelta(days=1)}
    settings.API_SESSION_MAX_LIFETIME = timedelta(days=30)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        pair = tokens.token_issue(user=member)
    session = ApiSession.objects.get(pk=pair.session_id)
    assert session.expires_at == start + timedelta(days=1)

    # Used within a day, again and again: each rotation moves the idle window on.
    later = start + timedelta(hours=20)
    with time_machine.travel(later, tick=False):
        pair = tokens.token_refresh(raw_refresh=pair.refresh)
    session.refresh_from_db()
    assert session.expires_at == later + timedelta(days=1)

    # Half a day before the absolute deadline, the window ends at the deadline exactly.
    ApiSession.objects.filter(pk=session.pk).update(created_at=later - timedelta(days=29, hours=12))
    with time_machine.travel(later + timedelta(hours=1), tick=False):
        tokens.token_refresh(raw_refresh=pair.refresh)
    session.refresh_from_db()
    assert session.expires_at == session.created_at + timedelta(days=30)
    assert session.revoked_at is None


@pytest.mark.postgres
@pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="two connections at once: SQLite's single writer makes it a matter of locks",
)
@pytest.mark.django_db(transaction=True)
def test_one_token_presented_twice_at_once_is_reuse(member):
    """Two clients present the same refresh token together: one gets the new pair, the
    other's rotation finds the row already changed, and that is reuse: the session ends."""
    pair = tokens.token_issue(user=member)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def present() -> None:
        try:
            barrier.wait()
            tokens.token_refresh(raw_refresh=pair.refresh)
            outcomes.append("refreshed")
        except tokens.TokenRejected as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=present) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["refreshed", "token_reused"]
    session = ApiSession.objects.get(pk=pair.session_id)
    assert session.revoked_at is not None and session.revoke_reason == "refresh_reused"
