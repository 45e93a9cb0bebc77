from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from accounts import sessions
from accounts.models import ApiSession
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _api_session(user) -> ApiSession:
    return sessions.api_session_create(
        user=user, ip="127.0.0.1", user_agent="t", expires_at=timezone.now() + timedelta(days=1)
    )


def _web_session(user) -> UserSession:
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store.create()
    return UserSession.objects.create(user=user, ip="127.0.0.1", session_key=store.session_key)


def test_revoke_user_sessions_keeps_the_callers_sessions(member, other_member):
    keep_api, drop_api = _api_session(member), _api_session(member)
    keep_web, drop_web = _web_session(member), _web_session(member)
    others = _api_session(other_member)

    count = sessions.revoke_user_sessions(
        user=member,
        actor=member,
        reason="password_changed",
        keep_web_session_key=keep_web.session_key,
        keep_api_session_id=str(keep_api.pk),
    )

    assert count == 2
    assert sessions.api_session_is_live(str(keep_api.pk))
    assert not sessions.api_session_is_live(str(drop_api.pk))
    assert sessions.api_session_is_live(str(others.pk))
    assert SessionStore().exists(keep_web.session_key)
    assert not SessionStore().exists(drop_web.session_key)
    assert not UserSession.objects.filter(pk=drop_web.pk).exists()
    drop_api.refresh_from_db()
    assert drop_api.revoked_at is not None and drop_api.revoke_reason == "password_changed"
    events = AuditEvent.objects.filter(action="session.revoked")
    assert sorted(e.metadata["kind"] for e in events) == ["api", "web"]
    assert {e.actor_id for e in events} == {str(member.pk)}


def test_revoke_user_sessions_without_keep_revokes_all(member):
    a, b = _api_session(member), _api_session(member)
    _web_session(member)
    assert sessions.revoke_user_sessions(user=member, actor=None, reason="suspended") == 3
    assert not sessions.api_session_is_live(str(a.pk))
    assert not sessions.api_session_is_live(str(b.pk))
    # A second call finds nothing left to revoke.
    assert sessions.revoke_user_sessions(user=member, actor=None, reason="suspended") == 0
