"""JWT access and refresh tokens: issuing them for an API session, refreshing (rotation
with reuse detection), signing out. The keys and the JWT codec are ``accounts.jwt_codec``.

Claims: ``iss``, ``aud``, ``sub`` (user id), ``sid`` (API session id), ``jti``,
``roles``, ``iat``, ``exp`` and ``token_type`` (``access`` | ``refresh``). An access token
of a session with an active organization also carries ``org``, ``org_roles`` and
``permissions`` (``accounts.hooks.org_claims``); the session row remembers which
organization (``ApiSession.active_org_id``), so a refresh keeps it unless told otherwise.

Why one module of over 500 lines: the refresh's one-statement rotation and its locked path
must give the same answers (reuse, revocation, lifetimes, policies, organization), and they
share the mint and the session rules with the sign-in; kept side by side, a change to one is
seen next to the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts import hooks, identity_cache, sessions
from accounts.flows.login import ensure_email_verified, ensure_mfa_policy_met, user_may_sign_in
from accounts.flows.metrics import count_sign_in
from accounts.jwt_codec import (
    AccessToken,
    RefreshToken,
    TokenRejected,
    decode_typed,
)
from accounts.models import ApiSession, User
from accounts.policy_rules import SessionRules, session_rules_for
from accounts.selectors import user_with_flags
from audit.services import record
from config.client_ip import client_ip
from config.errors import Forbidden, Invalid

# The refresh error (and revocation reason) of a session past its absolute lifetime.
SESSION_EXPIRED = "session_expired"
# The refresh's ``organization`` when the client left it out: keep the session's.
KEEP_ORGANIZATION: Any = object()


# --- issuing, refreshing, logging out -----------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    expires_in: int
    session_id: str
    access_expires_at: datetime

    def as_response(self) -> dict:
        return {
            "access": self.access,
            "refresh": self.refresh,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "session_id": self.session_id,
        }


def _mint(
    user: User,
    session: ApiSession,
    roles: list[str],
    org: hooks.OrgClaims | None,
    rules: SessionRules,
    *,
    refresh_jti: str | None = None,
) -> tuple[TokenPair, str]:
    access_lifetime, refresh_lifetime = rules.access_token, rules.refresh_idle
    now = timezone.now()
    refresh = RefreshToken()
    if refresh_jti is not None:
        refresh["jti"] = refresh_jti
    refresh.set_iat(at_time=now)
    refresh.set_exp(from_time=now, lifetime=refresh_lifetime)
    refresh["sub"] = str(user.pk)
    refresh["sid"] = str(session.pk)
    refresh["roles"] = list(roles)
    access = AccessToken()
    access.set_iat(at_time=now)
    access.set_exp(from_time=now, lifetime=access_lifetime)
    for claim in ("sub", "sid", "roles"):
        access[claim] = refresh[claim]
    if org is not None:
        for claim, value in org.as_claims().items():
            access[claim] = value
    pair = TokenPair(
        access=str(access),
        refresh=str(refresh),
        expires_in=int(access_lifetime.total_seconds()),
        session_id=str(session.pk),
        access_expires_at=now + access_lifetime,
    )
    return pair, refresh["jti"]


def _client(request) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    return client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:512]


def _session_deadline(session: ApiSession, rules: SessionRules) -> datetime:
    """When the session ends whatever its activity (its absolute lifetime: the ``session``
    policy's ``refresh_absolute_days``, by default ``API_SESSION_MAX_LIFETIME``)."""
    return session.created_at + rules.refresh_absolute


def _session_expiry(now: datetime, *, deadline: datetime, rules: SessionRules) -> datetime:
    """A session lives ``refresh_idle`` unused (the ``session`` policy's, by default
    ``REFRESH_TOKEN_LIFETIME``), never past its deadline.

    The refresh token itself keeps its full lifetime, so that a refresh after the deadline
    is told ``session_expired`` rather than ``token_expired`` (an idle client's token expires
    first and is told ``token_expired``)."""
    return min(now + rules.refresh_idle, deadline)


def token_issue(
    *, user: User, request=None, method: str = "password", organization: str | None = None
) -> TokenPair:
    """A token login: create the API session, mint the pair, audit the sign-in.

    ``organization`` (an id or a slug; empty or None: none) becomes the session's active
    organization; one the user may not use raises ``config.errors.Invalid`` and nothing is
    written."""
    ip, user_agent = _client(request)
    now = timezone.now()
    rules = session_rules_for(user)
    with transaction.atomic():
        org = hooks.org_claims(user=user, organization=organization) if organization else None
        session = sessions.api_session_create(
            user=user,
            ip=ip,
            user_agent=user_agent,
            expires_at=_session_expiry(now, deadline=now + rules.refresh_absolute, rules=rules),
            active_org_id=org.org if org is not None else None,
            # The deadline above counts from this very moment, so the session's expiry
            # and its deadline agree to the microsecond (a refresh then has no correction
            # to write).
            created_at=now,
        )
        pair, refresh_jti = _mint(user, session, user.roles, org, rules)
        session.refresh_jti = refresh_jti
        session.save(update_fields=["refresh_jti"])
        User.objects.filter(pk=user.pk).update(last_login=now, updated_at=now)
        metadata = {"door": "api", "method": method, "session_id": str(session.pk)}
        if org is not None:
            metadata["organization"] = org.org
        record(
            action="auth.login.succeeded",
            actor=user,
            target=user,
            request=request,
            metadata=metadata,
        )
    sessions.mark_api_session_live(str(session.pk))
    count_sign_in(door="api", result="succeeded")
    return pair


def organization_check(*, user: User, organization: str | None) -> None:
    """Raise ``config.errors.Invalid`` now if ``user`` may not name ``organization`` in a
    token (a sign-in that goes on to its second factor says so before the code is asked)."""
    if organization:
        with transaction.atomic():
            hooks.org_claims(user=user, organization=organization)


@lru_cache(maxsize=8)
def _session_row_plan(alias: str) -> tuple[str, list[str], list[tuple]]:
    """The locking statement, attribute names and per-column converters of
    :func:`_locked_session` on one database, worked out once per process."""
    conn = connections[alias]
    q = conn.ops.quote_name
    fields = ApiSession._meta.concrete_fields
    table = ApiSession._meta.db_table
    user_column = ApiSession._meta.get_field("user").column
    sql = (
        f"SELECT {', '.join(q(f.column) for f in fields)} FROM {q(table)} "  # noqa: S608
        f"WHERE {q(ApiSession._meta.pk.column)} = %s AND {q(user_column)} = %s"
    )
    if conn.features.has_select_for_update:
        sql += " FOR UPDATE"  # SQLite: the IMMEDIATE transaction holds the write lock already
    converters = []
    for f in fields:
        col = f.get_col(table)
        converters.append((col, tuple(conn.ops.get_db_converters(col) + f.get_db_converters(conn))))
    return sql, [f.attname for f in fields], converters


def _locked_session(session_id: str, user_id: str) -> ApiSession | None:
    """``select_for_update().get(pk=session_id, user_id=user_id)`` as one plain statement:
    refresh runs it on every rotation, and the ORM's compilation of it cost more CPU than the
    database's work. Call inside a transaction."""
    pk, user_pk = ApiSession._meta.pk, User._meta.pk
    try:
        params = [
            pk.get_db_prep_value(pk.to_python(session_id), connection),
            user_pk.get_db_prep_value(user_pk.to_python(user_id), connection),
        ]
    except (ValueError, TypeError, AttributeError, ValidationError):
        return None
    sql, attnames, converters = _session_row_plan(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (col, funcs) in zip(row, converters, strict=True):
        for func in funcs:
            value = func(value, col, connection)
        values.append(value)
    return ApiSession.from_db(connection.alias, attnames, values)


def token_refresh(
    *, raw_refresh: str, request=None, organization: Any = KEEP_ORGANIZATION
) -> TokenPair:
    """Rotate: the presented refresh token is spent and a new pair is issued.

    Presenting a refresh token that was already rotated is reuse (a stolen copy, or a
    replay): the whole session is revoked and ``token_reused`` is raised. A session past its
    absolute lifetime is ended and ``session_expired`` raised, however recently it was used.

    ``organization``: left out (:data:`KEEP_ORGANIZATION`), the session keeps its active
    organization, with claims worked out again; an id or slug switches to it (one the user
    may not use raises ``config.errors.Invalid`` and the refresh token stays unspent); None
    or ``""`` clears it. A kept organization that no longer has the user (normally already
    revoked by orgs) ends the session: ``token_revoked``.
    """
    claims = decode_typed(raw_refresh, "refresh")
    if organization is KEEP_ORGANIZATION:
        pair = _rotate_at_once(claims, request=request)
        if pair is not None:
            return pair
    with transaction.atomic():
        # Only the session row is locked; the user is read with its roles and email
        # verification in one plain statement (what the new tokens and the policy need).
        session = _locked_session(claims["sid"], claims["sub"])
        if session is None:
            raise TokenRejected("token_invalid", "The token is not valid.")
        user = user_with_flags(session.user_id)
        if user is None:
            raise TokenRejected("token_invalid", "The token is not valid.")
        session.user = user
        now = timezone.now()
        rules = session_rules_for(user)
        deadline = _session_deadline(session, rules)
        if deadline <= now and session.revoke_reason in ("", None, SESSION_EXPIRED):
            outcome = SESSION_EXPIRED
            if session.revoked_at is None:
                _end_expired_session(session, now=now, request=request)
        elif session.revoked_at is not None:
            sessions.mark_api_sessions_revoked([str(session.pk)])
            raise TokenRejected("token_revoked", "This session has been revoked.")
        elif session.expires_at <= now:
            raise TokenRejected("token_expired", "The session has expired.")
        elif session.refresh_jti != claims["jti"]:
            outcome = "reused"
            sessions._revoke_api_sessions([session], reason="refresh_reused", now=now)
            record(
                action="auth.token.reused",
                actor=session.user,
                target=session,
                request=request,
                metadata={"session_id": str(session.pk), "user_id": str(session.user_id)},
            )
        elif not user_may_sign_in(session.user):
            raise TokenRejected("account_inactive", "This account is not active.")
        else:
            org, outcome = _refreshed_org(session, organization, now=now, request=request)
            if outcome == "refreshed":
                pair = _rotate(
                    session, org, now=now, deadline=deadline, rules=rules, request=request
                )
    if outcome == "org_revoked":
        raise TokenRejected("token_revoked", "This session has been revoked.")
    if outcome == SESSION_EXPIRED:
        raise TokenRejected(
            SESSION_EXPIRED, "This session has reached its maximum lifetime; sign in again."
        )
    if outcome == "reused":
        raise TokenRejected(
            "token_reused", "This refresh token was already used; the session is revoked."
        )
    return pair


class _LockedPathDecides(Exception):
    """The rotation is not the common case: undo it, the locked path answers."""


@lru_cache(maxsize=8)
def _rotation_plan(alias: str) -> tuple[str, list[tuple]]:
    """The conditional UPDATE of :func:`_rotate_at_once` on one database, and the
    converters of the columns it returns, worked out once per process."""
    conn = connections[alias]
    q = conn.ops.quote_name
    meta = ApiSession._meta
    col = {f.name: q(f.column) for f in meta.concrete_fields}
    sql = (
        f"UPDATE {q(meta.db_table)} SET {col['refresh_jti']} = %s, {col['last_seen_at']} = %s, "  # noqa: S608
        f"{col['ip']} = COALESCE(%s, {col['ip']}), {col['expires_at']} = CASE WHEN "
        f"{col['created_at']} >= %s THEN %s ELSE {col['expires_at']} END "
        f"WHERE {col['id']} = %s AND {col['user']} = %s AND {col['refresh_jti']} = %s "
        f"AND {col['revoked_at']} IS NULL AND {col['expires_at']} > %s "
        f"AND {col['created_at']} > %s "
        f"RETURNING {col['created_at']}, {col['expires_at']}, {col['active_org_id']}"
    )
    converters = []
    for name in ("created_at", "expires_at", "active_org_id"):
        field = meta.get_field(name)
        column = field.get_col(meta.db_table)
        converters.append(
            (column, tuple(conn.ops.get_db_converters(column) + field.get_db_converters(conn)))
        )
    return sql, converters


def _rotate_at_once(claims: dict[str, Any], *, request) -> TokenPair | None:
    """The common refresh (a live session presenting its current refresh token, a user in
    good standing, the organization kept) as one conditional UPDATE that spends the token
    and reads what the new pair needs: no locking read first. The UPDATE matches only the
    session's current jti, unrevoked, within its idle and absolute lifetimes; PostgreSQL
    checks that again on the latest row when a concurrent rotation or revocation held it
    (SQLite's IMMEDIATE transaction serializes them), so a second use of one token finds
    no row here.

    None when anything is off (no such row: reuse, revocation, expiry, another user's
    session; an inactive user or one the sign-in policy stops; an organization that no
    longer has the user): nothing was written, and the locked path of
    :func:`token_refresh` answers exactly as it always has.

    The user with its flags comes from the identity snapshot that authenticates access
    tokens (accounts.identity_cache) when it is current, so a warm refresh reads no user
    row; a stale or missing one is read from the database as before."""
    user = identity_cache.user_with_flags(claims["sub"])
    if user is None or not user_may_sign_in(user):
        return None
    try:
        ensure_email_verified(user)
        ensure_mfa_policy_met(user)
    except Forbidden:
        return None
    meta = ApiSession._meta
    try:
        session_id = meta.pk.to_python(claims["sid"])
        user_id = User._meta.pk.to_python(claims["sub"])
    except ValidationError:
        return None
    rules = session_rules_for(user)
    now = timezone.now()
    idle_until = now + rules.refresh_idle
    ip, _ = _client(request)
    refresh_jti = uuid.uuid4().hex
    sql, converters = _rotation_plan(connection.alias)

    def prep(name: str, value):
        return meta.get_field(name).get_db_prep_value(value, connection)

    params = [
        refresh_jti,
        prep("last_seen_at", now),
        prep("ip", ip or None),
        # A session whose absolute deadline lies past its idle window gets the idle window.
        prep("created_at", idle_until - rules.refresh_absolute),
        prep("expires_at", idle_until),
        prep("id", session_id),
        User._meta.pk.get_db_prep_value(user_id, connection),
        str(claims["jti"]),
        prep("expires_at", now),
        prep("created_at", now - rules.refresh_absolute),
    ]
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            if row is None:
                return None
            created_at, expires_at, active_org_id = (
                _converted(value, column, funcs)
                for value, (column, funcs) in zip(row, converters, strict=True)
            )
            wanted = _session_expiry(now, deadline=created_at + rules.refresh_absolute, rules=rules)
            if expires_at != wanted:
                # The deadline comes first (or the policy changed): set it exactly.
                ApiSession.objects.filter(pk=session_id).update(expires_at=wanted)
            org = None
            if active_org_id is not None:
                try:
                    org = hooks.org_claims(user=user, organization=str(active_org_id))
                except Invalid:
                    raise _LockedPathDecides from None
            session = ApiSession(
                id=session_id, user_id=user.pk, created_at=created_at, expires_at=wanted
            )
            pair, _ = _mint(user, session, user.roles, org, rules, refresh_jti=refresh_jti)
            metadata: dict[str, Any] = {"session_id": str(session_id)}
            if org is not None:
                metadata["organization"] = org.org
            record(
                action="auth.token.refreshed",
                actor=user,
                target=session,
                request=request,
                metadata=metadata,
                ip=ip,  # worked out above: the address is not parsed twice
            )
    except _LockedPathDecides:
        return None
    return pair


def _converted(value, column, funcs):
    for func in funcs:
        value = func(value, column, connection)
    return value


def _end_expired_session(session: ApiSession, *, now: datetime, request) -> None:
    sessions._revoke_api_sessions([session], reason=SESSION_EXPIRED, now=now)
    record(
        action="session.revoked",
        actor=None,
        target=session,
        request=request,
        metadata={"kind": "api", "reason": SESSION_EXPIRED, "user_id": str(session.user_id)},
    )


def _refreshed_org(
    session: ApiSession, organization: Any, *, now: datetime, request
) -> tuple[hooks.OrgClaims | None, str]:
    """The organization claims of the new pair, and ``"refreshed"``; or ``"org_revoked"``
    when the kept organization no longer has the user (the session is ended)."""
    if organization is not KEEP_ORGANIZATION:
        if not organization:
            return None, "refreshed"
        return hooks.org_claims(user=session.user, organization=organization), "refreshed"
    if session.active_org_id is None:
        return None, "refreshed"
    try:
        return hooks.org_claims(
            user=session.user, organization=str(session.active_org_id)
        ), "refreshed"
    except Invalid:
        sessions._revoke_api_sessions([session], reason="org_access_ended", now=now)
        record(
            action="session.revoked",
            actor=None,
            target=session,
            request=request,
            metadata={
                "kind": "api",
                "reason": "org_access_ended",
                "user_id": str(session.user_id),
                "organization": str(session.active_org_id),
            },
        )
        return None, "org_revoked"


def _rotate(
    session: ApiSession,
    org: hooks.OrgClaims | None,
    *,
    now: datetime,
    deadline: datetime,
    rules: SessionRules,
    request,
) -> TokenPair:
    user = session.user
    # The sign-in policy holds for refresh too (verification may have become mandatory, a
    # second factor required).
    ensure_email_verified(user)
    ensure_mfa_policy_met(user)
    session.expires_at = _session_expiry(now, deadline=deadline, rules=rules)
    pair, refresh_jti = _mint(user, session, user.roles, org, rules)
    ip, _ = _client(request)
    before_org = str(session.active_org_id) if session.active_org_id else None
    after_org = org.org if org is not None else None
    session.refresh_jti = refresh_jti
    session.last_seen_at = now
    session.active_org_id = after_org
    if ip:
        session.ip = ip
    # One UPDATE of the locked row, without save()'s signals and field bookkeeping.
    ApiSession.objects.filter(pk=session.pk).update(
        refresh_jti=refresh_jti,
        expires_at=session.expires_at,
        last_seen_at=now,
        ip=session.ip,
        active_org_id=after_org,
    )
    metadata: dict[str, Any] = {"session_id": str(session.pk)}
    if after_org:
        metadata["organization"] = after_org
    record(
        action="auth.token.refreshed",
        actor=user,
        target=session,
        request=request,
        metadata=metadata,
        changes={"organization": [before_org, after_org]} if before_org != after_org else None,
    )
    return pair


def token_logout(*, session_id: str, user: User, request=None) -> None:
    session = ApiSession.objects.filter(pk=session_id, user=user).first()
    if session is not None:
        sessions.api_session_revoke(
            session=session,
            actor=user,
            request=request,
            reason="logout",
            audit_action="auth.logout",
        )


def claims_expiry(claims: dict) -> datetime:
    return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
