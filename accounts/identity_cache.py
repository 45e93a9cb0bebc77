"""Who is calling, from one Redis round trip: the JWT hot path of the Redis deployment.

With the cache on Redis (django-redis, production), a request bearing an access token is
authenticated by ONE Lua script (:data:`_READ`) that, in one round trip and atomically:

- answers "revoked" if the session's revoked marker is there (accounts.sessions), and then
  touches nothing else — a revoked token does not spend its owner's rate budget;
- returns the session's live marker and when its activity was last written;
- returns the user's *identity snapshot*: the user row (every concrete column but the
  password hash, which stays deferred and is read only by the few views that check it)
  with the flags of the user object (roles, email verified, MFA on), and the two counters
  that tell whether it is still current (the user's generation and the global epoch);
- counts the request in the caller's rate-limit window (config.api.throttling) when the
  view is rate limited.

No SQL runs while the snapshot and the live marker are current. On a miss the user is read
with the one statement of ``selectors.user_with_flags`` and the snapshot written by
:data:`_WRITE` only if the generation and the epoch are still the ones read before that
statement (a compare-and-set inside Redis).

Why a snapshot is never staler than the database (the argument the tests check):

1. Every write that changes what a snapshot holds bumps the user's *generation* (INCR) and
   deletes the snapshot, once when the change is saved and once more when its transaction
   commits (``transaction.on_commit``). The receivers are model signals (``post_save`` /
   ``post_delete`` of the user, its email addresses and MFA authenticators, ``m2m_changed``
   of its roles, and the creation of an API session, whose token login writes
   ``last_login`` with a plain UPDATE), so every door — API, pages, admin, allauth, imports,
   services — is covered without a call at each site. A renamed or deleted role (Django
   group) bumps the global *epoch*, which retires every snapshot at once.
2. A request that read the database before a change committed cannot have what it read
   served after the change: the snapshot carries the generation read *before* the database
   was, and the bump on commit comes after the commit, so a read that saw the old row
   always carries an older generation than the current one and is read as absent. (The
   compare-and-set of the write also keeps such a snapshot from replacing a current one.)
3. A Redis that goes back in time (restored from an older snapshot, a lagging replica
   promoted) is another server with another ``run_id`` (config.redis_connection). Each
   snapshot names the ``run_id`` of the server it was written to, and one that names
   another server is ignored: a restored snapshot cannot re-enable a suspended user or
   give back a removed role, whatever the restored generation counters say. The session
   markers follow the same rule (accounts.sessions), so a revoked session stays revoked.
4. A bump that cannot reach Redis is kept by the process and replayed as soon as it reaches
   Redis again (``config.redis_connection.recovered``), with the revocation markers of
   recent revocations. A snapshot also expires after ``SNAPSHOT_SECONDS``, which bounds
   the one case left: a process that failed to bump and died before Redis came back.
5. While Redis is unreachable the database answers (``None`` from
   :func:`session_identity` sends the caller to the SQL path), never a cached answer.

Without Redis (the embedded SQLite + file cache default) nothing here runs: the SQL path of
accounts.authentication is the product, and the receivers do nothing.

API keys take the same path (accounts.apikey_cache): a key's snapshot carries its owner's
generation, so everything above retires it too, and the plain UPDATEs of accounts.apikeys
(revocation, a new address) bump the owner's generation themselves.

The keys of one call (session markers, the user's snapshot and generation, the epoch, the
rate window) are read by one script: on a Redis Cluster they would need a common hash tag.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction

from accounts import selectors, sessions
from accounts.models import ROLE_NAMES, User
from config import redis_connection
from config.outages import is_outage

logger = logging.getLogger(__name__)

# How long a snapshot may serve without a database read; bounds the only case the bumps
# cannot cover (see the module docstring, point 4).
SNAPSHOT_SECONDS = 60
# Generations outlive every snapshot written under them (each write refreshes this).
GENERATION_SECONDS = 3600

_FLAG_NAMES = (*(f"has_role_{r}" for r in ROLE_NAMES), "email_verified_flag", "mfa_enabled_flag")
# Every concrete column but the password hash (it stays out of Redis; it is deferred).
_ATTNAMES = tuple(f.attname for f in User._meta.concrete_fields if f.attname != "password")
# A deploy that adds a column or a flag must not read the snapshots of the previous one.
_LAYOUT = hashlib.sha256(repr((_ATTNAMES, _FLAG_NAMES)).encode()).hexdigest()[:12]

_READ = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
local count = false
if KEYS[7] then
  count = redis.call('INCR', KEYS[7])
  if count == 1 then redis.call('EXPIRE', KEYS[7], ARGV[1]) end
end
return {0, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]),
        redis.call('GET', KEYS[5]), redis.call('GET', KEYS[6]), count}
"""

_WRITE = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
return 1
"""

_scripts: dict[tuple[int, str], Any] = {}
_pending_users: set[str] = set()
_pending_epoch = False


def redis_client():
    """The cache's Redis client when the cache is django-redis (production), else None."""
    client = getattr(cache, "client", None)
    get_client = getattr(client, "get_client", None)
    return get_client(write=True) if get_client is not None else None


def script(client, source: str):
    """``source`` registered once per Redis client (redis-py's ``register_script``, which
    runs it by its SHA and loads it again if the server forgot it)."""
    found = _scripts.get((id(client), source))
    if found is None:
        found = _scripts[(id(client), source)] = client.register_script(source)
    return found


def _scripts_of(client) -> tuple[Any, Any]:
    return script(client, _READ), script(client, _WRITE)


def _snapshot_key(user_id: str) -> str:
    return cache.make_key(f"auth:identity:{user_id}")


def _generation_key(user_id: str) -> str:
    return cache.make_key(f"auth:identity-gen:{user_id}")


def _epoch_key() -> str:
    return cache.make_key("auth:identity-epoch")


# --- the per-request read -----------------------------------------------------------------


class SessionRevoked(Exception):
    """The access token's session is revoked (or ended): refuse the token."""


@dataclass(frozen=True)
class RateCount:
    """The request counted in its rate window by the same round trip (see throttling)."""

    key: str
    period: int
    count: int
    reset: int


@dataclass(frozen=True)
class Identity:
    user: User | None  # None: no such user any more
    rate: RateCount | None


def session_identity(
    session_id: str, user_id: str, *, touch_ip: str | None, rate: tuple[str, int] | None
) -> Identity | None:
    """The caller of an access token of session ``session_id`` (claims ``sid``/``sub``).

    ``rate``: ``(key, period)`` of the rate-limit window to count this request in, or None.
    Raises :class:`SessionRevoked`. Returns None when Redis is not the cache, or is
    unreachable: the caller then takes the SQL path (which never trusts the cache).
    """
    client = redis_client()
    if client is None:
        return None
    read, write = _scripts_of(client)
    keys = [
        cache.make_key(sessions.revoked_key(session_id)),
        cache.make_key(sessions.live_key(session_id)),
        cache.make_key(sessions.seen_key(session_id)),
        _snapshot_key(user_id),
        _generation_key(user_id),
        _epoch_key(),
    ]
    args: list[Any] = []
    window = None
    if rate is not None:
        window = _window(*rate)
        keys.append(window[0])
        args.append(rate[1] + 5)
    try:
        if redis_connection.recovered():
            resync_after_outage()
        reply = read(keys=keys, args=args, client=client)
    except Exception as exc:
        if not is_outage(exc):
            raise
        return None
    if reply[0] == 1:
        raise SessionRevoked
    _, live, seen, snapshot, generation, epoch, count = reply
    decode = cache.client.decode
    if (live is None or decode(live) != sessions.live_marker()) and not sessions.live_in_database(
        session_id
    ):
        raise SessionRevoked
    sessions.touch_quietly(session_id, touch_ip, None if seen is None else decode(seen))
    user = _snapshot_or_database(write, client, user_id, snapshot, generation, epoch)
    rate_count = None
    if window is not None and count is not None:
        rate_count = RateCount(key=rate[0], period=rate[1], count=int(count), reset=window[1])
    return Identity(user=user, rate=rate_count)


def user_with_flags(user_id: str) -> User | None:
    """``selectors.user_with_flags(user_id)`` served from the user's snapshot while it is
    current: for a request that names the user without an access token (a token refresh),
    one round trip (the snapshot, the generation and the epoch) instead of the statement.
    A miss reads the database and stores the snapshot as the access path does, so the same
    argument (module docstring) keeps it no staler than the database. Without Redis, or
    while it is unreachable: the database."""
    client = redis_client()
    if client is None:
        return selectors.user_with_flags(user_id)
    try:
        if redis_connection.recovered():
            resync_after_outage()
        raw, generation, epoch = client.mget(
            [_snapshot_key(user_id), _generation_key(user_id), _epoch_key()]
        )
    except Exception as exc:
        if not is_outage(exc):
            raise
        return selectors.user_with_flags(user_id)
    return _snapshot_or_database(_scripts_of(client)[1], client, user_id, raw, generation, epoch)


def _snapshot_or_database(write, client, user_id: str, raw, generation, epoch) -> User | None:
    """The user of snapshot ``raw`` while it is current, else the database's, stored as the
    new snapshot (``generation`` and ``epoch`` are the ones read with ``raw``)."""
    generation, epoch = generation or b"0", epoch or b"0"
    user = _current_snapshot(raw, generation, epoch)
    if user is None:
        user = selectors.user_with_flags(user_id)
        if user is not None:
            _store(write, client, user, generation, epoch)
    return user


def _window(key: str, period: int) -> tuple[str, int]:
    # Lazily imported: config.api.throttling imports nothing of accounts, and this module
    # is loaded at start-up by the app registry.
    from config.api.throttling import window_key

    return window_key(key, period)


def rate_window(key: str, period: int) -> tuple[str, int]:
    """The cache key of ``key``'s current rate window and the seconds until it resets."""
    return _window(key, period)


def generation_key(user_id: str) -> str:
    return _generation_key(user_id)


def epoch_key() -> str:
    return _epoch_key()


# What a user snapshot holds; a snapshot that embeds one names it in its own layout.
SNAPSHOT_LAYOUT = _LAYOUT


def encode_user(user: User) -> tuple[tuple, tuple]:
    """The columns and flags of a user loaded by ``selectors.user_with_flags``."""
    values = tuple(getattr(user, name) for name in _ATTNAMES)
    flags = tuple(bool(getattr(user, name)) for name in _FLAG_NAMES)
    return values, flags


def decode_user(values, flags) -> User:
    user = User.from_db(DEFAULT_DB_ALIAS, list(_ATTNAMES), list(values))
    for name, value in zip(_FLAG_NAMES, flags, strict=True):
        setattr(user, name, value)
    return user


def compare_and_set(client, key: str, user_id: str, generation: bytes, epoch: bytes, value):
    """Store ``value`` at ``key`` for ``SNAPSHOT_SECONDS`` only if the user's generation and
    the epoch are still ``generation`` and ``epoch`` (read before the database was)."""
    _scripts_of(client)[1](
        keys=[key, _generation_key(user_id), _epoch_key()],
        args=[generation, epoch, value, SNAPSHOT_SECONDS, GENERATION_SECONDS],
        client=client,
    )


def _current_snapshot(raw: bytes | None, generation: bytes, epoch: bytes) -> User | None:
    if raw is None:
        return None
    try:
        layout, server, gen, ep, values, flags = pickle.loads(raw)  # noqa: S301 - our own
    except Exception:  # a value of another layout or a damaged one: read the database
        return None
    if (
        layout != _LAYOUT
        or server != redis_connection.server_identity()
        or gen != generation
        or ep != epoch
    ):
        return None
    return decode_user(values, flags)


def encode_snapshot(user: User, generation: bytes, epoch: bytes) -> bytes:
    """A user loaded by ``selectors.user_with_flags``, as stored (see the module docstring)."""
    values, flags = encode_user(user)
    server = redis_connection.server_identity()
    return pickle.dumps((_LAYOUT, server, generation, epoch, values, flags), protocol=5)


def _store(write, client, user: User, generation: bytes, epoch: bytes) -> None:
    value = encode_snapshot(user, generation, epoch)
    try:
        write(
            keys=[_snapshot_key(str(user.pk)), _generation_key(str(user.pk)), _epoch_key()],
            args=[generation, epoch, value, SNAPSHOT_SECONDS, GENERATION_SECONDS],
            client=client,
        )
    except Exception as exc:
        if not is_outage(exc):
            raise
        logger.warning("identity cache unreachable (%s)", exc.__class__.__name__)


# --- invalidation -------------------------------------------------------------------------


def _bump_now(user_ids: list[str], *, epoch: bool) -> None:
    global _pending_epoch
    client = redis_client()
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.incr(_generation_key(user_id))
            pipe.expire(_generation_key(user_id), GENERATION_SECONDS)
            pipe.delete(_snapshot_key(user_id))
        if epoch:
            pipe.incr(_epoch_key())
        pipe.execute()
    except Exception as exc:
        if not is_outage(exc):
            raise
        # Replayed once this process reaches Redis again (module docstring, point 4).
        logger.warning("identity cache unreachable (%s); bump kept", exc.__class__.__name__)
        _pending_users.update(user_ids)
        _pending_epoch = _pending_epoch or epoch


def invalidate_users(user_ids) -> None:
    """The snapshots of these users are stale: now, and again when the transaction commits
    (a request between the two may have stored what the transaction had not committed)."""
    ids = sorted({str(pk) for pk in user_ids if pk is not None})
    if not ids or redis_client() is None:
        return
    _bump_now(ids, epoch=False)
    transaction.on_commit(lambda: _bump_now(ids, epoch=False))


def invalidate_all() -> None:
    """Every snapshot is stale (a role was renamed or deleted)."""
    if redis_client() is None:
        return
    _bump_now([], epoch=True)
    transaction.on_commit(lambda: _bump_now([], epoch=True))


def resync_after_outage() -> None:
    """Once this process reaches Redis again: the revocation markers of recent revocations
    and the bumps it could not make meanwhile."""
    global _pending_epoch
    sessions.resync_recent_revocations()
    users, epoch = sorted(_pending_users), _pending_epoch
    _pending_users.clear()
    _pending_epoch = False
    if users or epoch:
        _bump_now(users, epoch=epoch)


# --- the receivers: every write that changes a snapshot, whatever door made it ------------


def _on_user_saved_or_deleted(sender, instance, **kwargs) -> None:
    invalidate_users([instance.pk])


def _on_owned_row_changed(sender, instance, **kwargs) -> None:
    # An email address, an MFA authenticator or an SMS phone: the user object's email_verified /
    # mfa_enabled; a role membership row written directly; an API key saved or deleted
    # (its snapshot carries its owner's generation: accounts.apikey_cache).
    invalidate_users([instance.user_id])


def _on_api_session_created(sender, instance, created: bool, **kwargs) -> None:
    # A token login writes last_login with a plain UPDATE (accounts.tokens.token_issue) in
    # the transaction that creates its session.
    if created:
        invalidate_users([instance.user_id])


def _on_roles_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if not reverse:  # user.groups.add/remove/set/clear
        if action in ("post_add", "post_remove", "post_clear"):
            invalidate_users([instance.pk])
        return
    # group.user_set.add/remove/clear: the users are in pk_set, or (clear) the group's
    # members before they are removed.
    if action in ("post_add", "post_remove"):
        invalidate_users(pk_set or ())
    elif action == "pre_clear":
        invalidate_users(list(instance.user_set.values_list("pk", flat=True)))


def _on_role_renamed_or_deleted(sender, instance, created: bool = False, **kwargs) -> None:
    # Roles are Django groups found by name: a renamed or deleted group changes the roles
    # of its members, whose ids are not at hand once it is gone.
    if not created:
        invalidate_all()


def connect_receivers() -> None:
    """Called by AccountsConfig.ready()."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from accounts.models import ApiKey, ApiSession
    from accounts.sms.models import SmsDevice

    memberships = User.groups.through
    for signal in (post_save, post_delete):
        uid = "saved" if signal is post_save else "deleted"
        signal.connect(_on_user_saved_or_deleted, sender=User, dispatch_uid=f"identity.user.{uid}")
        for model in (EmailAddress, Authenticator, SmsDevice, memberships, ApiKey):
            signal.connect(
                _on_owned_row_changed,
                sender=model,
                dispatch_uid=f"identity.{model._meta.label_lower}.{uid}",
            )
        signal.connect(
            _on_role_renamed_or_deleted, sender=Group, dispatch_uid=f"identity.group.{uid}"
        )
    post_save.connect(
        _on_api_session_created, sender=ApiSession, dispatch_uid="identity.apisession.created"
    )
    m2m_changed.connect(_on_roles_changed, sender=memberships, dispatch_uid="identity.roles")
