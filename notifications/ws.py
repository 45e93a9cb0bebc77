"""The notifications WebSocket, ``/ws/v1/notifications`` (docs/api.md, "WebSocket").

config/asgi.py routes ``websocket`` connections to ``application`` here, named by the
``WEBSOCKET_APPLICATION`` setting (config imports no app). The socket is a Channels
consumer on the web process's event loop; its database and cache work runs through
``database_sync_to_async``.

Layers. ``notifications`` sits below ``accounts`` and ``orgs``, so what the socket needs
from them is registered here from their ``AppConfig.ready()``:

    register_authenticator(token=fn, cookie=fn)      # accounts.ws: Identity or Refused
    register_directory(may_subscribe=, organizations_of=, members_of=, activity_teams=)  # orgs.ws

A client's ``notification`` message goes through the HTTP send's service and rule
(``notifications.services.notifications_send``, ``notifications.audience``).

Delivery across processes. With ``REDIS_URL`` the Redis channel layer (channels-redis)
carries notifications and channel events (``team.<id>``, ``org.<id>``). Notifications go
in batches (the deliverer registered in ``notifications.delivery``): one message per batch
of up to ``BATCH_ITEMS`` to every web process holding sockets (group ``notifications.hubs``,
one channel per process), and each process hands them to its sockets of their users, so a
team's message is one channel-layer message per process, not one per member. On the
embedded defaults (no channel layer), each web process polls the notification table twice a
second for the users it holds sockets of, so a notification made by any process (another
web worker, a Celery task, manage.py) arrives within about a second; channel events then
reach the sockets of the same process only. Presence (``online_users``) is a cache entry per
connected user, refreshed by the process holding the socket: the cache is Redis or the
shared file cache, so it counts sockets of every process.

Cost per process, whatever the number of sockets: a heartbeat's ``online_users`` comes from
one count per process every few seconds (``_Presence``: the organizations of all its users,
their members and their presence, three reads), not from a count per socket; a batch of
notifications (a team's message) is one channel-layer message per process; at most
``LAYER_CONCURRENCY`` channel-layer calls are in flight at a time, the bound that keeps many
sockets closing at once within the Redis connection pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.http.request import validate_host
from django.utils import timezone

from config.errors import DomainError
from notifications import delivery
from notifications.models import Notification
from notifications.services import notifications_send

logger = logging.getLogger("roster.notifications")

PATH = "ws/v1/notifications"

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429
CLOSE_TOO_BIG = 1009

AUTH_SECONDS = 10.0
HEARTBEAT_SECONDS = 25.0
# Expiry, revocation and suspension are looked at this often (the contract: within 30 s).
RECHECK_SECONDS = 10.0
# Twice a second: within the 2 s of the contract with room for a slow query on a busy host.
POLL_SECONDS = 0.5
# How far back each poll looks: a row committed late (a long transaction) is still found;
# what a socket already sent is remembered for longer than this, so nothing goes twice.
POLL_WINDOW = timedelta(seconds=30)
MESSAGES_PER_SECOND = 10
MAX_MESSAGE_CHARS = 16 * 1024
RESUME_LIMIT = 200
PRESENCE_SECONDS = 60
# How long one count of who is online serves the heartbeats of this process's sockets.
ONLINE_COUNT_SECONDS = 5.0
MAX_CHANNELS = 100
# Channel-layer calls in flight at once per event loop: well below channels-redis's pool of
# 100 connections (redis-py's default), which refuses the 101st (MaxConnectionsError).
LAYER_CONCURRENCY = 32
# The web processes holding sockets, one channel each, and how many notifications one
# channel-layer message to them carries at most.
HUBS_GROUP = "notifications.hubs"
BATCH_ITEMS = 500
# A process renews its place in HUBS_GROUP this often (channels-redis forgets a member
# after a day).
HUB_RENEW_SECONDS = 3600.0


class Refused(Exception):
    """Authentication failed: the socket closes with ``close_code`` after an error message."""

    def __init__(self, close_code: int, code: str, detail: str):
        self.close_code, self.code, self.detail = close_code, code, detail
        super().__init__(detail)


@dataclass(frozen=True)
class Identity:
    user: Any
    method: str  # "jwt" | "api_key" | "session"
    # None while the credential holds; else the close code (4401 ended, 4403 suspended).
    recheck: Callable[[], int | None]


_hooks: dict[str, Callable] = {}


def register_authenticator(*, token: Callable, cookie: Callable) -> None:
    """``token(raw, meta=) -> Identity`` (the ``auth`` message) and ``cookie(session_key) ->
    Identity | None`` (a same-origin page's session); both raise ``Refused``."""
    _hooks.update(token=token, cookie=cookie)


def register_directory(
    *,
    may_subscribe: Callable,
    organizations_of: Callable,
    members_of: Callable,
    activity_teams: Callable,
) -> None:
    """``may_subscribe(user, kind, id) -> bool`` (kind ``team``/``org``);
    ``organizations_of(user_ids) -> {user id: organization ids}`` and
    ``members_of(organization_ids) -> {organization id: user ids}`` (whose presence a
    heartbeat counts: the members of the user's organizations), each one query;
    ``activity_teams(user) -> team ids`` the user may broadcast activity to."""
    _hooks.update(
        may_subscribe=may_subscribe,
        organizations_of=organizations_of,
        members_of=members_of,
        activity_teams=activity_teams,
    )


def _hook(name: str) -> Callable:
    try:
        return _hooks[name]
    except KeyError:
        raise RuntimeError(f"notifications.ws: no {name!r} hook registered") from None


def as_message(notification: Notification) -> dict[str, Any]:
    """A notification as the socket sends it (the API's notification object)."""
    return {
        "type": "notification",
        "notification": {
            "id": str(notification.pk),
            "kind": notification.kind,
            "title": notification.title,
            "message": notification.message,
            "priority": notification.priority,
            "data": notification.data,
            "from_user": str(notification.from_user_id) if notification.from_user_id else None,
            "created_at": notification.created_at.isoformat(),
            "read_at": notification.read_at.isoformat() if notification.read_at else None,
        },
    }


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def channel_group(channel: str) -> str:
    kind, _, object_id = channel.partition(":")
    return f"{kind}.{uuid.UUID(object_id).hex}"


_layer_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slots() -> asyncio.Semaphore:
    """This event loop's bound on channel-layer calls in flight (``LAYER_CONCURRENCY``)."""
    loop = asyncio.get_running_loop()
    slots = _layer_slots.get(loop)
    if slots is None:
        slots = _layer_slots[loop] = asyncio.Semaphore(LAYER_CONCURRENCY)
    return slots


async def _bounded(call, *args) -> None:
    async with _slots():
        await call(*args)


def push_to_channel_layer(notifications: list[Notification]) -> None:
    """The deliverer on Redis: the batch to every web process holding sockets, which hands
    each notification to its sockets of the notification's user (``_Hub.dispatch``)."""
    layer = get_channel_layer()
    if layer is None:
        return  # the embedded defaults: the web processes poll (``_Hub``)
    items = [[str(n.user_id), as_message(n)] for n in notifications]
    async_to_sync(_send_batches)(layer, items)


async def _send_batches(layer, items: list) -> None:
    for start in range(0, len(items), BATCH_ITEMS):
        batch = items[start : start + BATCH_ITEMS]
        await layer.group_send(HUBS_GROUP, {"type": "notifications.batch", "items": batch})


def _presence_key(user_id) -> str:
    return f"ws:online:{user_id}"


def _poll(user_ids: list, since) -> list[Notification]:
    return list(
        Notification.objects.filter(user_id__in=user_ids, created_at__gte=since).order_by(
            "created_at", "id"
        )[:1000]
    )


class _Hub:
    """This process's sockets: by user (polling, presence) and by channel (events)."""

    def __init__(self):
        self.by_user: dict[str, set[NotificationConsumer]] = {}
        self.by_group: dict[str, set[NotificationConsumer]] = {}
        self._task: asyncio.Task | None = None
        # With a channel layer: this process's channel in HUBS_GROUP and its reader.
        self._channel: str | None = None
        self._joined_at = float("-inf")
        self._listener: asyncio.Task | None = None
        self._joining: asyncio.Lock | None = None

    def add(self, consumer: NotificationConsumer) -> None:
        self.by_user.setdefault(consumer.user_id, set()).add(consumer)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, consumer: NotificationConsumer) -> bool:
        """Forget ``consumer``; True when it was this process's last socket of its user."""
        for group in list(consumer.groups_joined):
            self.leave(consumer, group)
        sockets = self.by_user.get(consumer.user_id)
        if sockets is None:
            return False
        sockets.discard(consumer)
        if not sockets:
            del self.by_user[consumer.user_id]
            return True
        return False

    async def listen(self, layer) -> None:
        """This process in HUBS_GROUP with a reader of its channel; awaited before a socket
        says it is connected, so that no notification made after that misses it."""
        if self._joining is None:
            self._joining = asyncio.Lock()
        async with self._joining:
            if self._channel is None:
                # A process-specific channel: the process's one queue, read by whichever of
                # its receivers holds channels-redis's receive lock.
                self._channel = await layer.new_channel()
            if time.monotonic() - self._joined_at > HUB_RENEW_SECONDS:
                await _bounded(layer.group_add, HUBS_GROUP, self._channel)
                self._joined_at = time.monotonic()
            if self._listener is None or self._listener.done():
                loop = asyncio.get_running_loop()
                self._listener = loop.create_task(self._read(layer, self._channel))

    async def _read(self, layer, channel: str) -> None:
        while True:
            try:
                event = await layer.receive(channel)
                await self.dispatch(event.get("items") or ())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("notifications batch could not be read")
                await asyncio.sleep(1)

    async def dispatch(self, items) -> None:
        """Each ``[user id, message]`` to this process's sockets of that user."""
        for user_id, message in items:
            for consumer in list(self.by_user.get(user_id, ())):
                await consumer.push(message)

    def join(self, consumer: NotificationConsumer, group: str) -> None:
        self.by_group.setdefault(group, set()).add(consumer)

    def leave(self, consumer: NotificationConsumer, group: str) -> None:
        members = self.by_group.get(group)
        if members is not None:
            members.discard(consumer)
            if not members:
                del self.by_group[group]

    async def _run(self) -> None:
        polling = get_channel_layer() is None
        last_presence = 0.0
        while self.by_user:
            await asyncio.sleep(POLL_SECONDS)
            users = list(self.by_user)
            try:
                if time.monotonic() - last_presence > PRESENCE_SECONDS / 3:
                    await database_sync_to_async(_mark_online)(users)
                    last_presence = time.monotonic()
                if polling:
                    found = await database_sync_to_async(_poll)(users, timezone.now() - POLL_WINDOW)
                    for notification in found:
                        for consumer in list(self.by_user.get(str(notification.user_id), ())):
                            await consumer.offer(notification.created_at, as_message(notification))
            except Exception:
                logger.exception("notifications socket poll failed")


def _mark_online(user_ids: list) -> None:
    cache.set_many({_presence_key(u): 1 for u in user_ids}, timeout=PRESENCE_SECONDS)


def _mark_offline(user_id) -> None:
    cache.delete(_presence_key(user_id))


def online_counts(user_ids: list[str]) -> dict[str, int]:
    """``online_users`` for each of ``user_ids``: how many members of their organizations
    (themselves included) are online. Three reads whatever the number of users: their
    organizations, those organizations' members, and the members' presence."""
    organizations = _hook("organizations_of")(user_ids)
    members = _hook("members_of")(sorted({o for orgs in organizations.values() for o in orgs}))
    everyone = set(user_ids).union(*members.values())
    keys = {_presence_key(u): u for u in everyone}
    online = {keys[k] for k in cache.get_many(list(keys))}
    by_organization = {o: frozenset(m & online) for o, m in members.items()}
    counts: dict[str, int] = {}
    by_circle: dict[frozenset, frozenset] = {}
    for user_id in user_ids:
        circle = frozenset(organizations.get(user_id, ()))
        if circle not in by_circle:
            by_circle[circle] = frozenset().union(*(by_organization[o] for o in circle))
        counts[user_id] = len(by_circle[circle] | ({user_id} & online))
    return counts


class _Presence:
    """The heartbeats' ``online_users`` of this process's users: counted for all of them at
    once (``online_counts``), and that count serves every heartbeat for
    ``ONLINE_COUNT_SECONDS``; a user who connected since is counted with everyone again."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.counted_at = float("-inf")
        self._lock: asyncio.Lock | None = None

    def _fresh(self, user_id: str) -> bool:
        return user_id in self.counts and time.monotonic() - self.counted_at < ONLINE_COUNT_SECONDS

    async def online_users(self, user_id: str) -> int:
        if self._lock is None:
            self._lock = asyncio.Lock()
        if not self._fresh(user_id):
            async with self._lock:  # one count at a time; who waited uses it
                if not self._fresh(user_id):
                    users = sorted({*_hub.by_user, user_id})
                    started = time.monotonic()
                    self.counts = await database_sync_to_async(online_counts)(users)
                    self.counted_at = started
        return self.counts[user_id]


_hub = _Hub()
_presence = _Presence()


class NotificationConsumer(AsyncWebsocketConsumer):
    """One socket: authenticate, then push, replay, subscribe, broadcast (docs/api.md)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.identity: Identity | None = None
        self.user_id: str = ""
        self.socket_id = str(uuid.uuid4())
        self.groups_joined: set[str] = set()
        self.sent: dict[str, float] = {}  # notification id -> when it was sent (monotonic)
        self.since = None
        self.arrivals: deque[float] = deque()
        self.tasks: list[asyncio.Task] = []
        self.closing = False

    # --- connection -------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]}

    def _meta(self) -> dict[str, str]:
        meta = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in self._headers().items()
            if name not in ("cookie", "authorization")
        }
        client = self.scope.get("client")
        if client:
            meta["REMOTE_ADDR"] = client[0]
        return meta

    def _origin_allowed(self, origin: str) -> bool:
        if origin in settings.CSRF_TRUSTED_ORIGINS:
            return True
        host = self._headers().get("host", "")
        parts = urlsplit(origin)
        return (
            bool(parts.netloc)
            and parts.netloc == host
            and validate_host(parts.hostname or "", settings.ALLOWED_HOSTS)
        )

    async def connect(self):
        headers = self._headers()
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            await self.close()  # before accepting: the handshake is answered 403
            return
        await self.accept()
        session_key = _session_cookie(headers.get("cookie", "")) if origin else None
        if session_key:
            try:
                identity = await database_sync_to_async(_hook("cookie"))(session_key)
            except Refused as exc:
                await self._refuse(exc)
                return
            if identity is not None:
                await self._start(identity)
                return
        self.tasks.append(asyncio.get_running_loop().create_task(self._auth_deadline()))

    async def _auth_deadline(self):
        await asyncio.sleep(AUTH_SECONDS)
        if self.identity is None:
            await self._end(
                CLOSE_UNAUTHENTICATED, "not_authenticated", "No authentication within 10 s."
            )

    async def _refuse(self, exc: Refused) -> None:
        await self._end(exc.close_code, exc.code, exc.detail)

    async def _end(self, close_code: int, code: str, detail: str) -> None:
        if self.closing:
            return
        self.closing = True
        await self._send({"type": "error", "code": code, "detail": detail})
        await self.close(code=close_code)

    async def _start(self, identity: Identity) -> None:
        self.identity = identity
        self.user_id = str(identity.user.pk)
        self.since = timezone.now()
        _hub.add(self)
        await database_sync_to_async(_mark_online)([self.user_id])
        if self.channel_layer is not None:
            await _hub.listen(self.channel_layer)
        await self._send(
            {
                "type": "connection",
                "status": "connected",
                "session_id": self.socket_id,
                "server_time": timezone.now().isoformat(),
            }
        )
        loop = asyncio.get_running_loop()
        self.tasks += [loop.create_task(self._heartbeat()), loop.create_task(self._recheck())]

    async def disconnect(self, code):
        self.closing = True
        for task in self.tasks:
            task.cancel()
        if self.identity is None:
            return
        if self.channel_layer is not None:
            for group in self.groups_joined:
                await _bounded(self.channel_layer.group_discard, group, self.channel_name)
        if _hub.remove(self):
            await database_sync_to_async(_mark_offline)(self.user_id)

    async def _heartbeat(self):
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            online = await _presence.online_users(self.user_id)
            await self._send(
                {
                    "type": "heartbeat",
                    "server_time": timezone.now().isoformat(),
                    "online_users": online,
                }
            )

    async def _recheck(self):
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            close_code = await database_sync_to_async(self.identity.recheck)()
            if close_code == CLOSE_FORBIDDEN:
                await self._end(close_code, "account_suspended", "This account is not active.")
                return
            if close_code is not None:
                await self._end(
                    close_code, "token_revoked", "The credential expired or was revoked."
                )
                return

    # --- server to client ---------------------------------------------------------------

    async def _send(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def offer(self, created_at, message: dict) -> None:
        """Send a notification once, if it was made after this socket authenticated."""
        if self.closing or self.since is None or created_at < self.since:
            return
        await self._send_once(message)

    async def _send_once(self, message: dict) -> None:
        key = message["notification"]["id"]
        if key in self.sent:
            return
        now = time.monotonic()
        self.sent[key] = now
        if len(self.sent) > 2000:
            horizon = now - 2 * POLL_WINDOW.total_seconds()
            self.sent = {k: t for k, t in self.sent.items() if t > horizon}
        await self._send(message)

    async def push(self, message: dict) -> None:  # a batch from the channel layer (_Hub)
        if not self.closing:
            await self._send_once(message)

    async def channel_event(self, event):  # channel layer: "channel.event"
        if not self.closing:
            await self._send(event["message"])

    # --- client to server ---------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        now = time.monotonic()
        self.arrivals.append(now)
        while self.arrivals and self.arrivals[0] <= now - 1.0:
            self.arrivals.popleft()
        if len(self.arrivals) > MESSAGES_PER_SECOND:
            await self._end(CLOSE_TOO_MANY, "rate_limited", "More than 10 messages a second.")
            return
        if text_data is None or len(text_data) > MAX_MESSAGE_CHARS:
            await self._end(CLOSE_TOO_BIG, "invalid_message", "Send JSON text of at most 16 KiB.")
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._error("invalid_message", "Send a JSON object with a type.")
            return
        kind = message["type"]
        if self.identity is None:
            if kind != "auth":
                await self._error("not_authenticated", "Authenticate first.")
                return
            await self._auth(message)
            return
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "resume": self._resume,
            "notification": self._client_notification,
            "activity": self._activity,
        }.get(kind)
        if handler is None:
            await self._error("invalid_message", f"Unknown message type {kind[:40]!r}.")
            return
        try:
            await handler(message)
        except Exception:
            # The socket outlives a fault in one message (logged with its trace).
            logger.exception("notifications socket message failed", extra={"type": kind})
            await self._error("server_error", "The message could not be handled.")

    async def _error(self, code: str, detail: str, **more) -> None:
        await self._send({"type": "error", "code": code, "detail": detail, **more})

    async def _auth(self, message: dict) -> None:
        try:
            identity = await database_sync_to_async(_hook("token"))(
                message.get("token"), meta=self._meta()
            )
        except Refused as exc:
            await self._refuse(exc)
            return
        await self._start(identity)

    def _channel(self, message: dict) -> tuple[str, str, str] | None:
        channel = message.get("channel")
        if not isinstance(channel, str):
            return None
        kind, _, object_id = channel.partition(":")
        if kind not in ("team", "org") or not _is_uuid(object_id):
            return None
        return channel, kind, str(uuid.UUID(object_id))

    async def _subscribe(self, message: dict) -> None:
        parsed = self._channel(message)
        if parsed is None:
            await self._error("invalid_channel", "A channel is team:<id> or org:<id>.")
            return
        channel, kind, object_id = parsed
        allowed = await database_sync_to_async(_hook("may_subscribe"))(
            self.identity.user, kind, object_id
        )
        if not allowed:
            await self._error("forbidden", "Only members may subscribe.", channel=channel)
            return
        group = channel_group(channel)
        if group not in self.groups_joined and len(self.groups_joined) >= MAX_CHANNELS:
            await self._error("too_many_channels", f"At most {MAX_CHANNELS} channels.")
            return
        await self._join(group)
        await self._send({"type": "subscribed", "channel": f"{kind}:{object_id}"})

    async def _join(self, group: str) -> None:
        self.groups_joined.add(group)
        _hub.join(self, group)
        if self.channel_layer is not None:
            await _bounded(self.channel_layer.group_add, group, self.channel_name)

    async def _unsubscribe(self, message: dict) -> None:
        parsed = self._channel(message)
        if parsed is None:
            await self._error("invalid_channel", "A channel is team:<id> or org:<id>.")
            return
        channel, kind, object_id = parsed
        group = channel_group(channel)
        self.groups_joined.discard(group)
        _hub.leave(self, group)
        if self.channel_layer is not None:
            await _bounded(self.channel_layer.group_discard, group, self.channel_name)
        await self._send({"type": "unsubscribed", "channel": f"{kind}:{object_id}"})

    async def _resume(self, message: dict) -> None:
        after = message.get("after")
        if not isinstance(after, str) or not _is_uuid(after):
            await self._error("invalid_message", "after is a notification id.")
            return
        missed = await database_sync_to_async(_missed)(self.user_id, after)
        if missed is None:
            await self._error("not_found", "No such notification.")
            return
        for notification in missed:
            await self._send_once(as_message(notification))

    async def _client_notification(self, message: dict) -> None:
        body = message.get("notification")
        target = message.get("target_user")
        if not isinstance(body, dict) or not isinstance(target, str) or not _is_uuid(target):
            await self._error(
                "invalid_message", "Send target_user and notification {title, message}."
            )
            return
        try:
            sent = await database_sync_to_async(notifications_send)(
                actor=self.identity.user,
                target_user_id=target,
                title=body.get("title"),
                message=body.get("message"),
                priority=body.get("priority", Notification.Priority.MEDIUM),
            )
        except DomainError as exc:
            await self._error(exc.code, exc.detail)
            return
        await self._send({"type": "sent", "delivered_to": len(sent)})

    async def _activity(self, message: dict) -> None:
        activity = message.get("activity")
        if (
            not isinstance(activity, dict)
            or not isinstance(activity.get("action"), str)
            or not isinstance(activity.get("resource"), str)
            or len(activity["action"]) > 100
            or len(activity["resource"]) > 200
        ):
            await self._error("invalid_message", "Send activity {action, resource} (text).")
            return
        teams = await database_sync_to_async(_hook("activity_teams"))(self.identity.user)
        if not teams:
            await self._error("forbidden", "You may not broadcast to any team.")
            return
        data = {
            "user": self.user_id,
            "action": activity["action"],
            "resource": activity["resource"],
        }
        for team_id in teams:
            channel = f"team:{team_id}"
            event = {"type": "event", "channel": channel, "event": "activity", "data": data}
            await broadcast(channel_group(channel), event)
        await self._send({"type": "sent", "delivered_to": len(teams)})


async def broadcast(group: str, message: dict) -> None:
    """``message`` to the sockets subscribed to ``group``: every process on Redis, this
    process on the embedded defaults."""
    layer = get_channel_layer()
    if layer is not None:
        await _bounded(layer.group_send, group, {"type": "channel.event", "message": message})
        return
    for consumer in list(_hub.by_group.get(group, ())):
        await consumer.channel_event({"message": message})


def _missed(user_id: str, after: str) -> list[Notification] | None:
    mark = Notification.objects.filter(user_id=user_id, pk=after).first()
    if mark is None:
        return None
    newer = Notification.objects.filter(user_id=user_id, created_at__gt=mark.created_at)
    return list(newer.order_by("created_at", "id")[:RESUME_LIMIT])


def _session_cookie(header: str) -> str | None:
    cookies = SimpleCookie()
    try:
        cookies.load(header)
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None and morsel.value else None


delivery.register(push_to_channel_layer)

_consumer = NotificationConsumer.as_asgi()


async def application(scope, receive, send):
    """The ``websocket`` side of the web process (``WEBSOCKET_APPLICATION``): one path."""
    if scope["path"] != f"/{PATH}":
        await send({"type": "websocket.close", "code": 1000})  # before accepting: a 403
        return
    await _consumer(scope, receive, send)
