"""API keys: created, verified and revoked here, nowhere else.

A key reads ``rst_<prefix>_<secret>``: ``rst_`` tells it from a JWT, the 12-character
public prefix finds the row (unique index), and only the SHA-256 digest of the whole key is
stored, compared in constant time. The secret is returned once, at creation.

Every write to a key row retires the Redis snapshots of its owner's keys
(accounts.apikey_cache): the plain UPDATEs here bump the owner's generation themselves
(``identity_cache.invalidate_users``), saves and deletes through the model send the signals
identity_cache follows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import identity_cache
from accounts.models import API_KEY_SCHEME, ApiKey, User
from audit.services import record
from config.api.permissions import API_KEY_SCOPES
from config.errors import Conflict, Invalid

KEY_PREFIX = API_KEY_SCHEME
PUBLIC_PREFIX_LENGTH = 12
# ``rst_`` + 12 hex + ``_`` + 43 url-safe characters.
KEY_LENGTH = len(KEY_PREFIX) + PUBLIC_PREFIX_LENGTH + 1 + 43
MAX_LIVE_KEYS_PER_USER = 100
# last_used_at / last_used_ip are written at most this often per key.
LAST_USED_WRITE_SECONDS = 60


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def digest_of(raw_key: str) -> str:
    """The SHA-256 digest a key is stored (and looked up in Redis) by."""
    return _digest(raw_key)


def _new_raw_key() -> tuple[str, str]:
    prefix = secrets.token_hex(PUBLIC_PREFIX_LENGTH // 2)
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def parse_public_prefix(raw_key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None (no database work for junk)."""
    if len(raw_key) != KEY_LENGTH or not raw_key.startswith(KEY_PREFIX):
        return None
    start = len(KEY_PREFIX)
    prefix = raw_key[start : start + PUBLIC_PREFIX_LENGTH]
    if raw_key[start + PUBLIC_PREFIX_LENGTH] != "_":
        return None
    if any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    if isinstance(scopes, str) or not isinstance(scopes, list | tuple):
        raise Invalid("invalid", "Scopes must be a list.", attr="scopes")
    wanted = []
    for scope in scopes:
        if scope not in API_KEY_SCOPES:
            raise Invalid("invalid_scope", f"Unknown scope: {str(scope)[:40]!r}.", attr="scopes")
        if scope not in wanted:
            wanted.append(scope)
    if not wanted:
        raise Invalid("required", "Give at least one scope.", attr="scopes")
    return [s for s in API_KEY_SCOPES if s in wanted]


def api_key_create(
    *,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    actor,
    request=None,
) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns the row and the raw key (shown once, never stored)."""
    name = (name or "").strip()
    if not name:
        raise Invalid("required", "Give the key a name.", attr="name")
    if len(name) > 100:
        raise Invalid("max_length", "At most 100 characters.", attr="name")
    clean_scopes = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid("expires_in_past", "The expiry must be in the future.", attr="expires_at")
    with transaction.atomic():
        # Lock the owner so the live-key limit holds under concurrent creations.
        User.objects.select_for_update().filter(pk=user.pk).first()
        live = ApiKey.objects.filter(user=user, revoked_at__isnull=True).count()
        if live >= MAX_LIVE_KEYS_PER_USER:
            raise Conflict(
                "api_key_limit",
                f"A user may hold at most {MAX_LIVE_KEYS_PER_USER} API keys; revoke one first.",
            )
        for _attempt in range(5):
            prefix, raw = _new_raw_key()
            try:
                with transaction.atomic():
                    key = ApiKey.objects.create(
                        user=user,
                        name=name,
                        prefix=prefix,
                        digest=_digest(raw),
                        scopes=clean_scopes,
                        expires_at=expires_at,
                    )
                break
            except IntegrityError:  # prefix collision: draw again
                continue
        else:  # pragma: no cover - 48 random bits colliding five times
            raise Conflict("conflict", "Could not create a key; try again.")
        record(
            action="apikey.created",
            actor=actor,
            target=key,
            request=request,
            changes={"name": name, "scopes": clean_scopes, "expires_at": _iso(expires_at)},
            metadata={"prefix": prefix, "owner_id": str(user.pk)},
        )
    return key, raw


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def api_key_revoke(*, key: ApiKey, actor, request=None, reason: str = "revoked") -> bool:
    """Revoke one key; it stops working on the next request. False if it already was."""
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not updated:
            return False
        identity_cache.invalidate_users([key.user_id])
        key.refresh_from_db(fields=["revoked_at"])
        record(
            action="apikey.revoked",
            actor=actor,
            target=key,
            request=request,
            metadata={"prefix": key.prefix, "owner_id": str(key.user_id), "reason": reason},
        )
    return True


def api_keys_revoke_all(
    *,
    user: User,
    actor,
    request=None,
    reason: str = "revoked",
    created_since: datetime | None = None,
) -> int:
    """Revoke every live API key of ``user`` at once (only those created at or after
    ``created_since`` if given); audits ``apikey.revoked`` per key."""
    now = timezone.now()
    with transaction.atomic():
        live = ApiKey.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        if created_since is not None:
            live = live.filter(created_at__gte=created_since)
        keys = list(live)
        if not keys:
            return 0
        ApiKey.objects.filter(pk__in=[k.pk for k in keys]).update(revoked_at=now)
        identity_cache.invalidate_users([user.pk])
        for key in keys:
            key.revoked_at = now
            record(
                action="apikey.revoked",
                actor=actor,
                target=key,
                request=request,
                metadata={"prefix": key.prefix, "owner_id": str(user.pk), "reason": reason},
            )
    return len(keys)


class ApiKeyRejected(Exception):
    """The presented key is malformed, unknown, wrong, expired or revoked."""

    def __init__(self, code: str, detail: str):
        self.code, self.detail = code, detail
        super().__init__(detail)


def api_key_verify(raw_key: str) -> ApiKey:
    """The live key (with its user loaded) for ``raw_key``, or ApiKeyRejected.

    One indexed query. Unknown prefixes still pay a digest comparison so that the answer
    takes the same time whether or not the prefix exists.
    """
    prefix = parse_public_prefix(raw_key)
    if prefix is None:
        raise ApiKeyRejected("invalid_api_key", "The API key is malformed.")
    # get(), not first(): no ORDER BY to compile or run on the hot path.
    try:
        key = ApiKey.objects.select_related("user").get(prefix=prefix)
    except ApiKey.DoesNotExist:
        key = None
    presented = _digest(raw_key)
    expected = key.digest if key is not None else "0" * 64
    if not hmac.compare_digest(presented, expected) or key is None:
        raise ApiKeyRejected("invalid_api_key", "The API key is not valid.")
    api_key_ensure_live(key)
    return key


def api_key_ensure_live(key: ApiKey) -> None:
    """ApiKeyRejected unless ``key`` (verified or from its snapshot) is live right now."""
    if key.revoked_at is not None:
        raise ApiKeyRejected("api_key_revoked", "The API key has been revoked.")
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise ApiKeyRejected("api_key_expired", "The API key has expired.")


def last_used_gate(key_id: str) -> str:
    """The cache key holding when ``last_used_at`` of key ``key_id`` was last written."""
    return f"auth:apikey-used:{key_id}"


_UNREAD = object()


def api_key_mark_used(
    key: ApiKey, *, ip: str | None, request=None, last_written: float | None | object = _UNREAD
) -> None:
    """Remember when and from where a key was used, without a write per request.

    ``last_used_*`` is written at most once a minute per key; a request from an address
    other than the recorded one is written (and audited as ``apikey.used_from_new_ip``)
    at once, at most once a minute per address. ``last_written``: the gate's value when the
    caller has read it already (accounts.apikey_cache reads it in its round trip).

    The new address bumps the owner's generation (the key snapshots hold the address); the
    timestamp alone does not, as nothing decides on it from a snapshot.
    """
    now = timezone.now()
    new_ip = bool(ip) and ip != key.last_used_ip
    if new_ip:
        if not cache.add(f"auth:apikey-ip:{key.pk}:{ip}", 1, timeout=LAST_USED_WRITE_SECONDS):
            return
        previous_ip = key.last_used_ip
        cache.set(last_used_gate(key.pk), time.time(), timeout=LAST_USED_WRITE_SECONDS)
        with transaction.atomic():
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_ip=ip)
            identity_cache.invalidate_users([key.user_id])
            record(
                action="apikey.used_from_new_ip",
                actor=key,
                target=key,
                request=request,
                metadata={
                    "prefix": key.prefix,
                    "owner_id": str(key.user_id),
                    "previous_ip": previous_ip,
                },
            )
        key.last_used_at, key.last_used_ip = now, ip
        return
    gate = last_used_gate(key.pk)
    if last_written is _UNREAD:
        last_written = cache.get(gate)
    # The timestamp is compared, not only the entry's TTL (see sessions._touch).
    if last_written is not None and time.time() - last_written < LAST_USED_WRITE_SECONDS:
        return
    cache.set(gate, time.time(), timeout=LAST_USED_WRITE_SECONDS)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
