"""Who is calling with an API key, from one Redis round trip: the key's side of the hot path
of accounts.identity_cache (read that module's docstring first; the same argument holds).

On Redis, ONE Lua script (:data:`_READ`) reads, atomically:

- the key's *owner entry*, found by the SHA-256 digest of the presented key (never the key
  itself): which user and which key row that digest belongs to. Those never change for a
  digest, so the entry proves nothing about the key's state and a restored Redis cannot
  make it wrong; it only names the owner's counters to read;
- the owner's generation and the global epoch (accounts.identity_cache);
- the key's *snapshot*: the key row (every column) with its owner as the identity snapshot
  holds it, stored under a header ``run_id:generation:epoch:``. It is served only when the
  header names this Redis server and the owner's current generation and epoch (the server
  is checked again after the reply: the call may have reconnected to another one);
- only then: the request counted in the owner's rate-limit window, and when the key's last
  use was written (accounts.apikeys.api_key_mark_used's gate).

A miss (no snapshot, a stale one, a wrong or unknown key) costs nothing more in Redis and
sends the caller to the SQL path (``api_key_verify``), which counts a wrong key against the
IP as before. After that path accepts the key, its snapshot is stored with a compare-and-set
on the generation and epoch the script read *before* the database was read, as the user
snapshots are; the first use of a key only writes its owner entry.

Why a revoked key is refused on the next request, whichever process served it before:

1. Every write to a key row bumps its owner's generation: ``api_key_revoke``,
   ``api_keys_revoke_all`` and the new-address write of ``api_key_mark_used`` (plain
   UPDATEs) call ``identity_cache.invalidate_users``; saves and deletes of the model
   (admin, erasure's cascade) send signals the receivers of identity_cache follow. The
   owner's own changes (status, roles, MFA, email) bump the same generation.
2. ``last_used_at`` written alone (once a minute per key) does not bump: no decision reads
   it from a snapshot, and its write gate is a Redis key of its own, read by the script.
3. Expiry is checked against the clock on every request, from the snapshot's column.
4. A restored Redis is another server (``run_id``): its snapshots are ignored.

The script names the owner's generation, rate window and last-use gate from the owner entry
(keys it was not handed): fine on one Redis server; a Redis Cluster would need the common
hash tag identity_cache's docstring mentions.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from dataclasses import dataclass

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS

from accounts import identity_cache
from accounts.models import ApiKey, User
from config import redis_connection
from config.outages import is_outage

# How long the owner entry of a digest is kept (re-written on the first miss after it goes).
OWNER_SECONDS = 86400
# Stands for the owner's id (or the key's) in the key names the script completes.
ID = "{id}"

_KEY_ATTNAMES = tuple(f.attname for f in ApiKey._meta.concrete_fields)
_LAYOUT = hashlib.sha256(
    repr((_KEY_ATTNAMES, identity_cache.SNAPSHOT_LAYOUT)).encode()
).hexdigest()[:12]

_READ = """
local owner = redis.call('GET', KEYS[1])
if not owner then return {0} end
local sep = string.find(owner, '|', 1, true)
if not sep then return {0} end
local uid, kid = string.sub(owner, 1, sep - 1), string.sub(owner, sep + 1)
local function named(template, id)
  local at = string.find(template, ARGV[6], 1, true)
  return string.sub(template, 1, at - 1) .. id .. string.sub(template, at + #ARGV[6])
end
local gen = redis.call('GET', named(ARGV[2], uid)) or '0'
local epoch = redis.call('GET', KEYS[3]) or '0'
local snap = redis.call('GET', KEYS[2])
local header = ARGV[1] .. ':' .. gen .. ':' .. epoch .. ':'
if (not snap) or string.sub(snap, 1, #header) ~= header then
  return {0, uid, kid, gen, epoch}
end
local count = false
if ARGV[4] ~= '' then
  local window = named(ARGV[4], uid)
  count = redis.call('INCR', window)
  if count == 1 then redis.call('EXPIRE', window, ARGV[5]) end
end
return {1, uid, kid, gen, epoch, string.sub(snap, #header + 1),
        redis.call('GET', named(ARGV[3], kid)), count}
"""


def _owner_key(digest: str) -> str:
    return cache.make_key(f"auth:apikey-owner:{digest}")


def _snapshot_key(digest: str) -> str:
    return cache.make_key(f"auth:apikey:{digest}")


@dataclass(frozen=True)
class KeyLookup:
    """What the round trip found for one presented key's digest."""

    digest: str
    key: ApiKey | None  # the live snapshot's key with its owner loaded; None: a miss
    rate: identity_cache.RateCount | None
    last_used_written: float | None  # the value of api_key_mark_used's gate
    owner: tuple[str, str] | None  # (user id, key id) of the digest, when known
    counters: tuple[bytes, bytes] | None  # the owner's generation and epoch, read first


def lookup(digest: str, *, gate_key: str, rate: tuple[str, int] | None) -> KeyLookup | None:
    """The key presented with SHA-256 ``digest``, from one round trip; None when Redis is
    not the cache or is unreachable (the SQL path answers).

    ``gate_key``: the cache key (unprefixed) of the last-use gate with ``{id}`` for the
    key's id. ``rate``: ``(key, period)`` of the owner's rate window with ``{id}`` for the
    owner's id, or None.
    """
    client = identity_cache.redis_client()
    if client is None:
        return None
    window = identity_cache.rate_window(*rate) if rate is not None else None
    server = redis_connection.server_identity()
    args = [
        server,
        identity_cache.generation_key(ID),
        cache.make_key(gate_key),
        window[0] if window is not None else "",
        rate[1] + 5 if rate is not None else 0,
        ID,
    ]
    keys = [_owner_key(digest), _snapshot_key(digest), identity_cache.epoch_key()]
    try:
        if redis_connection.recovered():
            identity_cache.resync_after_outage()
        reply = identity_cache.script(client, _READ)(keys=keys, args=args, client=client)
    except Exception as exc:
        if not is_outage(exc):
            raise
        return None
    if reply[0] == 0 and len(reply) == 1:
        return KeyLookup(digest, None, None, None, None, None)
    owner = (reply[1].decode(), reply[2].decode())
    counters = (reply[3], reply[4])
    # The identity sent was learned before this call, which may have reconnected to a
    # restored server: a snapshot is only current if it still names the server now known.
    if reply[0] == 0 or redis_connection.server_identity() != server:
        return KeyLookup(digest, None, None, None, owner, counters)
    _, _, _, _, _, snapshot, gate, count = reply
    key = _decode(snapshot, digest)
    if key is None:
        return KeyLookup(digest, None, None, None, owner, counters)
    rate_count = None
    if window is not None and count is not None:
        rate_count = identity_cache.RateCount(
            key=rate[0].replace(ID, owner[0]), period=rate[1], count=int(count), reset=window[1]
        )
    written = None if gate is None else cache.client.decode(gate)
    return KeyLookup(digest, key, rate_count, written, owner, counters)


def _decode(raw: bytes, digest: str) -> ApiKey | None:
    try:
        layout, key_values, user_values, flags = pickle.loads(raw)  # noqa: S301 - our own
    except Exception:  # another layout or a damaged value: read the database
        return None
    if layout != _LAYOUT:
        return None
    key = ApiKey.from_db(DEFAULT_DB_ALIAS, list(_KEY_ATTNAMES), list(key_values))
    if not hmac.compare_digest(key.digest, digest) or key.revoked_at is not None:
        return None
    key.user = identity_cache.decode_user(user_values, flags)
    return key


def store(found: KeyLookup, key: ApiKey, user: User) -> None:
    """After the SQL path accepted ``key`` (owner ``user`` with its flags): its snapshot,
    written only if the owner's counters are still those read before the database was; on
    the first use of the digest, its owner entry instead."""
    client = identity_cache.redis_client()
    if client is None:
        return
    owner = (str(key.user_id), str(key.pk))
    try:
        if found.owner is None:
            client.set(_owner_key(found.digest), "|".join(owner), ex=OWNER_SECONDS)
            return
        if found.owner != owner or found.counters is None or key.revoked_at is not None:
            return
        generation, epoch = found.counters
        values = tuple(getattr(key, name) for name in _KEY_ATTNAMES)
        user_values, flags = identity_cache.encode_user(user)
        header = b":".join((redis_connection.server_identity().encode(), generation, epoch, b""))
        body = pickle.dumps((_LAYOUT, values, user_values, flags), protocol=5)
        identity_cache.compare_and_set(
            client,
            _snapshot_key(found.digest),
            owner[0],
            generation,
            epoch,
            header + body,
        )
    except Exception as exc:
        if not is_outage(exc):
            raise
