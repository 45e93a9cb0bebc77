"""What one warm POST /api/v1/auth/token/refresh costs, pinned: its SQL statements and its
cache round trips. A change that adds a statement or a round trip to every refresh fails
here and has to say why.

On Redis (production) the user and its flags come from the identity snapshot
(accounts.identity_cache) once a refresh or a request has stored it: the database sees the
rotation's UPDATE and its audit event's INSERT in one transaction, and Redis one read of
the snapshot and one of the stored policy types. On the other caches (the embedded default)
the user is read from the database as well."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis.connection import AbstractConnection
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import ApiSession
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import error_code

pytestmark = pytest.mark.django_db

REFRESH = "/api/v1/auth/token/refresh"
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"}


def _on_redis() -> bool:
    return hasattr(getattr(caches["default"], "client", None), "get_client")


@pytest.fixture
def redis_commands(monkeypatch):
    """The first command of every packet sent to Redis: one per round trip (a pipeline or
    a script is one packet), whichever client sends it."""
    sent: list[str] = []
    original = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        packet = command[0] if isinstance(command, list | tuple) else command
        lines = bytes(packet).split(b"\r\n")
        sent.append(lines[2].decode().upper() if len(lines) > 2 else "?")
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def _refresh(client: APIClient, token: str) -> str:
    response = client.post(REFRESH, {"refresh": token}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["refresh"]


def _statements(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().split(None, 1)[0].upper() not in TRANSACTION_CONTROL
    ]


def _warm_refresh(member, redis_commands, commits) -> tuple[list[str], list[str]]:
    client = APIClient()
    # The first refresh stores the user's snapshot, and its commit has the process keep the
    # audit events' personal key of the user (audit.personal), as a served process would.
    with commits(execute=True):
        token = tokens.token_issue(user=member).refresh
    with commits(execute=True):
        token = _refresh(client, token)
    redis_commands.clear()
    with CaptureQueriesContext(connection) as queries:
        token = _refresh(client, token)
    statements = _statements(queries.captured_queries)
    assert AuditEvent.objects.filter(action="auth.token.refreshed").count() == 2
    session = ApiSession.objects.get(user=member)
    assert tokens.decode_typed(token, "refresh")["jti"] == session.refresh_jti
    return statements, list(redis_commands)


def test_a_warm_refresh_on_redis_is_one_update_one_audit_insert_and_two_reads(
    member, redis_commands, django_capture_on_commit_callbacks
):
    if not _on_redis():
        pytest.skip("the identity snapshot is the Redis deployment's")
    statements, commands = _warm_refresh(member, redis_commands, django_capture_on_commit_callbacks)
    assert len(statements) == 2, statements
    assert statements[0].startswith("UPDATE") and "accounts_apisession" in statements[0]
    assert statements[1].startswith("INSERT") and "audit_auditevent" in statements[1]
    # The user's snapshot with its generation and the epoch (one MGET); the stored policy
    # types (one GET). Nothing is written to Redis on a warm refresh.
    assert commands == ["MGET", "GET"], commands


def test_a_warm_refresh_elsewhere_also_reads_the_user(
    member, redis_commands, django_capture_on_commit_callbacks
):
    if _on_redis():
        pytest.skip("the SQL path of the caches that are not Redis")
    statements, commands = _warm_refresh(member, redis_commands, django_capture_on_commit_callbacks)
    assert [s.split(None, 1)[0] for s in statements] == ["SELECT", "UPDATE", "INSERT"]
    assert "accounts_user" in statements[0], statements
    assert "accounts_apisession" in statements[1], statements
    assert "audit_auditevent" in statements[2], statements
    assert commands == []


def test_a_deactivated_user_is_refused_at_the_next_refresh_though_the_snapshot_was_warm(
    member,
):
    """The snapshot a refresh reads is retired by any save of the user (it bumps the user's
    generation), so the next refresh reads the database and refuses. A plain save, which
    ends no session: a stale snapshot would have rotated the token."""
    client = APIClient()
    token = _refresh(client, tokens.token_issue(user=member).refresh)
    token = _refresh(client, token)  # warm
    member.status, member.is_active = member.Status.DEACTIVATED, False
    member.save()
    response = client.post(REFRESH, {"refresh": token}, format="json")
    assert response.status_code == 401 and error_code(response) == "account_inactive"
