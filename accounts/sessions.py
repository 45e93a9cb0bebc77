"""Sessions of every door: web sessions (allauth ``usersessions``) and API sessions.

An API session is one token login. Its access tokens are checked against two small cache
entries on every request (never the database while they live), read in one round trip: a
*revoked* marker and a *live* marker, under different keys. Revocation writes the revoked
marker first thing, so every process sees it at once; it outlives any access token of the
session. The live marker is written after a database read found the session live; it can
never overwrite a revocation (it is another key), so the check is safe on caches whose
``add()`` is not atomic (the embedded file cache), where a live marker written by a request
that read the database just before a revocation would otherwise replace the revoked one.
If neither entry is there (cache flushed, evicted), one database read restores the right
one — the check fails safe, not open.

A cache that goes back in time must not bring a revoked session back. A live marker names
the Redis server that holds it (its ``run_id``, config.redis_connection): restored from an
older snapshot, or replaced by a lagging replica, Redis comes back as another server, and
the old live markers it carries are read as absent (one database read each). While the
cache is unreachable the database answers instead, and a revocation is durable in the
database alone; a process that failed to reach the cache writes the revoked markers of
recent revocations again as soon as it reaches it (``resync_recent_revocations``).

On Redis, the markers are read by the one round trip of accounts.identity_cache, with the
caller's identity snapshot and rate-limit count; the rules above are the same.

Web sessions are identified to clients by an opaque id derived from the session key
(never the key itself, which is the cookie secret).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiSession, User
from accounts.oidc_grants import oidc_grants_revoke_all
from audit.services import record
from config import redis_connection
from config.errors import NotFound
from config.outages import is_outage

logger = logging.getLogger(__name__)

SESSION_STATE_LIVE = "live"
SESSION_STATE_REVOKED = "revoked"
# A live marker is re-checked against the database this often at most.
LIVE_MARKER_SECONDS = 300
# last_seen_at of an API session is written at most this often.
LAST_SEEN_WRITE_SECONDS = 60


def revoked_key(session_id: str) -> str:
    return f"auth:sid-revoked:{session_id}"


def live_key(session_id: str) -> str:
    return f"auth:sid-live:{session_id}"


def _revoked_marker_seconds() -> int:
    # Longer than any access token of the session can live (lifetime + leeway + margin).
    jwt = settings.SIMPLE_JWT
    lifetime = int(jwt["ACCESS_TOKEN_LIFETIME"].total_seconds())
    leeway = int(jwt.get("LEEWAY", 0) or 0)
    return lifetime + leeway + 60


def _quietly(write, *args) -> bool:
    """Run a cache write; during a cache outage log it and go on (the database decides)."""
    try:
        write(*args)
        return True
    except Exception as exc:
        if not is_outage(exc):
            raise
        logger.warning("session cache unreachable (%s)", exc.__class__.__name__)
        return False


def _write_revoked_markers(session_ids: list[str]) -> None:
    cache.set_many(
        {revoked_key(str(sid)): SESSION_STATE_REVOKED for sid in session_ids},
        timeout=_revoked_marker_seconds(),
    )
    cache.delete_many([live_key(str(sid)) for sid in session_ids])


def mark_api_sessions_revoked(session_ids: list[str]) -> bool:
    """Tell every process at once; False if the cache could not be told (the revocation
    still holds through the database, and is written again once the cache is back)."""
    return not session_ids or _quietly(_write_revoked_markers, session_ids)


def resync_recent_revocations() -> int:
    """Write the revoked marker of every session revoked within a marker's lifetime (after
    this process failed to reach the cache: some of those writes may have been lost)."""
    since = timezone.now() - timedelta(seconds=_revoked_marker_seconds())
    ids = [
        str(pk)
        for pk in ApiSession.objects.filter(revoked_at__gte=since).values_list("pk", flat=True)
    ]
    for start in range(0, len(ids), 1000):
        _write_revoked_markers(ids[start : start + 1000])
    return len(ids)


def resync_revocation_cache(*, user_ids) -> None:
    """Forget the cached state of these users' live API sessions (the next request reads
    the database again). For a transaction that revoked sessions and then rolled back:
    revocation markers are written at once, so that sign-out is immediate, and a rolled-back
    change must not leave anybody signed out."""
    live = ApiSession.objects.filter(user_id__in=list(user_ids), revoked_at__isnull=True)
    ids = [str(pk) for pk in live.values_list("pk", flat=True)]
    cache.delete_many([revoked_key(pk) for pk in ids] + [live_key(pk) for pk in ids])


def live_marker() -> str:
    """The value of a live marker written to (and only valid on) the current server."""
    return f"{SESSION_STATE_LIVE}:{redis_connection.server_identity()}"


def mark_api_session_live(session_id: str) -> None:
    # Its own key: whatever a racing request writes here, a revoked marker still wins.
    _quietly(cache.set, live_key(str(session_id)), live_marker(), LIVE_MARKER_SECONDS)


def seen_key(session_id: str) -> str:
    return f"auth:sid-seen:{session_id}"


def api_session_is_live(
    session_id: str, *, touch_ip: str | None = None, touch: bool = False
) -> bool:
    """The per-request check of access tokens: one cache round trip in the steady state
    (the session's state and when its activity was last written, read together)."""
    revoked, live, seen = revoked_key(session_id), live_key(session_id), seen_key(session_id)
    try:
        if redis_connection.recovered():
            from accounts.identity_cache import resync_after_outage  # imports this module

            resync_after_outage()
        found = cache.get_many([revoked, live, seen])
    except Exception as exc:
        if not is_outage(exc):
            raise
        # The cache is unreachable: the database answers (and activity is not recorded).
        return live_in_database(session_id)
    if found.get(revoked) == SESSION_STATE_REVOKED:
        return False
    if found.get(live) != live_marker() and not live_in_database(session_id):
        return False
    if touch:
        touch_quietly(session_id, touch_ip, found.get(seen))
    return True


def live_in_database(session_id: str) -> bool:
    """The session's state from the database (an unreadable or stale cache entry); the
    cache is told what was found."""
    row = (
        ApiSession.objects.filter(pk=session_id)
        .values_list("revoked_at", "expires_at", "user__is_active")
        .first()
    )
    if row is None:
        return False
    revoked_at, expires_at, user_active = row
    if revoked_at is not None or expires_at <= timezone.now() or not user_active:
        mark_api_sessions_revoked([session_id])
        return False
    mark_api_session_live(session_id)
    return True


def touch_quietly(session_id: str, ip: str | None, last_written: float | None) -> None:
    """Record the session's activity (at most once a minute); skipped during an outage."""
    _quietly(_touch, session_id, ip, last_written)


def _touch(session_id: str, ip: str | None, last_written: float | None) -> None:
    # The timestamp is compared, not only the entry's TTL, so the gate also holds where
    # the cache's clock and ours differ. Two requests crossing the minute together may
    # both write; that costs one extra UPDATE, never a lost one.
    now = time.time()
    if last_written is not None and now - last_written < LAST_SEEN_WRITE_SECONDS:
        return
    cache.set(seen_key(session_id), now, timeout=LAST_SEEN_WRITE_SECONDS)
    updates: dict = {"last_seen_at": timezone.now()}
    if ip:
        updates["ip"] = ip
    ApiSession.objects.filter(pk=session_id, revoked_at__isnull=True).update(**updates)


def api_session_create(
    *,
    user: User,
    ip: str | None,
    user_agent: str,
    expires_at: datetime,
    active_org_id: str | None = None,
    created_at: datetime | None = None,
) -> ApiSession:
    """``created_at``: the moment the caller's lifetimes count from (default: now)."""
    session = ApiSession.objects.create(
        user=user,
        created_at=created_at or timezone.now(),
        ip=ip,
        user_agent=(user_agent or "")[:512],
        expires_at=expires_at,
        active_org_id=active_org_id,
    )
    return session


def _revoke_api_sessions(sessions: list[ApiSession], *, reason: str, now: datetime) -> None:
    ids = [s.pk for s in sessions]
    if not ids:
        return
    mark_api_sessions_revoked([str(i) for i in ids])
    ApiSession.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=now, revoke_reason=reason[:64]
    )
    for s in sessions:
        s.revoked_at = now
        s.revoke_reason = reason[:64]


def api_session_revoke(
    *, session: ApiSession, actor, request=None, reason: str, audit_action: str = "session.revoked"
) -> bool:
    """Revoke one API session (its refresh token and, at once, its access tokens)."""
    with transaction.atomic():
        locked = ApiSession.objects.select_for_update().filter(pk=session.pk).first()
        if locked is None or locked.revoked_at is not None:
            mark_api_sessions_revoked([str(session.pk)])
            return False
        _revoke_api_sessions([locked], reason=reason, now=timezone.now())
        session.revoked_at, session.revoke_reason = locked.revoked_at, locked.revoke_reason
        record(
            action=audit_action,
            actor=actor,
            target=locked,
            request=request,
            metadata={"kind": "api", "reason": reason, "user_id": str(locked.user_id)},
        )
    return True


# --- web sessions --------------------------------------------------------------------------


def web_session_id(session_key: str) -> str:
    """The opaque, stable id a client sees for a web session (a keyed hash of its key)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"roster.web-session:{session_key}".encode(), hashlib.sha256
    ).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _web_sessions_of(user: User):
    return list(UserSession.objects.filter(user_id=user.pk).order_by("-last_seen_at"))


def _live_web_sessions_of(user: User, *, now):
    """The user's web sessions whose browser session still exists (signed-out ones are not).

    With the database session engine this is one query; other engines ask the store per
    session (allauth's ``purge_and_list``), which also drops the stale rows.
    """
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return UserSession.objects.purge_and_list(user)
    live = Session.objects.filter(expire_date__gt=now).values("session_key")
    return list(UserSession.objects.filter(user_id=user.pk, session_key__in=live))


def _end_web_session(user_session) -> None:
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore().delete(user_session.session_key)
    user_session.delete()


def web_session_revoke(*, user_session, actor, request=None, reason: str) -> None:
    with transaction.atomic():
        opaque = web_session_id(user_session.session_key)
        _end_web_session(user_session)
        record(
            action="session.revoked",
            actor=actor,
            target=("usersession", opaque),
            request=request,
            metadata={"kind": "web", "reason": reason, "user_id": str(user_session.user_id)},
        )


# --- the interface other services call -----------------------------------------------------


def revoke_user_sessions(
    *,
    user: User,
    actor,
    request=None,
    reason: str,
    keep_web_session_key: str | None = None,
    keep_api_session_id: str | None = None,
) -> int:
    """Revoke every web and API session of ``user`` except the ones to keep.

    Access tokens of the revoked API sessions stop working at once (revocation cache).
    Audits ``session.revoked`` per session. Returns how many sessions were revoked.
    Called on password change (keeping the caller's session), suspension, deactivation
    and deletion (keeping nothing).

    The tokens of the apps the user signed in to with Roster (OpenID Connect) end too, every
    one of them (``accounts.oidc_grants``; audited ``oidc.revoked``, not counted here).
    """
    keep_api = str(keep_api_session_id) if keep_api_session_id else None
    now = timezone.now()
    with transaction.atomic():
        qs = ApiSession.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        if keep_api:
            qs = qs.exclude(pk=keep_api)
        api_sessions = list(qs)
        _revoke_api_sessions(api_sessions, reason=reason, now=now)
        for s in api_sessions:
            record(
                action="session.revoked",
                actor=actor,
                target=s,
                request=request,
                metadata={"kind": "api", "reason": reason, "user_id": str(user.pk)},
            )
        web_sessions = [
            ws for ws in _web_sessions_of(user) if ws.session_key != keep_web_session_key
        ]
        for ws in web_sessions:
            opaque = web_session_id(ws.session_key)
            _end_web_session(ws)
            record(
                action="session.revoked",
                actor=actor,
                target=("usersession", opaque),
                request=request,
                metadata={"kind": "web", "reason": reason, "user_id": str(user.pk)},
            )
        oidc_grants_revoke_all(user=user, actor=actor, request=request, reason=reason)
    return len(api_sessions) + len(web_sessions)


def revoke_org_sessions(*, organization_id, user_id=None, actor, request=None, reason: str) -> int:
    """Revoke the live API sessions whose access tokens name ``organization_id`` (of one
    user, or of everybody): the organization dropped them (``orgs.tokens``). Their access
    tokens stop working at once, as any revoked session's; sessions naming another
    organization, or none, are untouched. Audits ``session.revoked`` per session."""
    with transaction.atomic():
        qs = ApiSession.objects.select_for_update().filter(
            active_org_id=organization_id, revoked_at__isnull=True
        )
        if user_id is not None:
            qs = qs.filter(user_id=user_id)
        api_sessions = list(qs)
        _revoke_api_sessions(api_sessions, reason=reason, now=timezone.now())
        for s in api_sessions:
            record(
                action="session.revoked",
                actor=actor,
                target=s,
                request=request,
                metadata={
                    "kind": "api",
                    "reason": reason,
                    "user_id": str(s.user_id),
                    "organization": str(organization_id),
                },
            )
    return len(api_sessions)


# --- listing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    id: str
    kind: str  # "web" | "api"
    created_at: datetime
    last_seen_at: datetime | None
    ip: str | None
    user_agent: str
    current: bool


def user_sessions_list(
    *, user: User, current_web_key: str | None = None, current_api_id: str | None = None
) -> list[SessionView]:
    """Live web and API sessions of ``user``, most recently seen first."""
    now = timezone.now()
    views: list[SessionView] = []

    for ws in _live_web_sessions_of(user, now=now):
        views.append(
            SessionView(
                id=web_session_id(ws.session_key),
                kind="web",
                created_at=ws.created_at,
                last_seen_at=ws.last_seen_at,
                ip=ws.ip,
                user_agent=ws.user_agent,
                current=bool(current_web_key) and ws.session_key == current_web_key,
            )
        )
    for s in ApiSession.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now):
        views.append(
            SessionView(
                id=str(s.pk),
                kind="api",
                created_at=s.created_at,
                last_seen_at=s.last_seen_at,
                ip=s.ip,
                user_agent=s.user_agent,
                current=bool(current_api_id) and str(s.pk) == str(current_api_id),
            )
        )
    views.sort(key=lambda v: v.last_seen_at or v.created_at, reverse=True)
    return views


def user_session_revoke(*, user: User, session_id: str, actor, request=None) -> None:
    """Revoke one of ``user``'s sessions (web or API) by its public id; 404 if not theirs."""
    try:
        as_uuid = uuid.UUID(str(session_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("not_found", "No such session.") from None
    api = ApiSession.objects.filter(pk=as_uuid, user=user, revoked_at__isnull=True).first()
    if api is not None:
        api_session_revoke(session=api, actor=actor, request=request, reason="revoked_by_user")
        return
    for ws in UserSession.objects.filter(user_id=user.pk):
        if hmac.compare_digest(web_session_id(ws.session_key), str(as_uuid)):
            web_session_revoke(
                user_session=ws, actor=actor, request=request, reason="revoked_by_user"
            )
            return
    raise NotFound("not_found", "No such session.")
