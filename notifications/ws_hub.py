"""The notifications WebSocket's side shared by all the sockets of a web process: this
process's sockets (``hub``), presence, and the fan-out of notifications and channel events
across processes. The consumer (one socket) is ``notifications.ws``.

Delivery across processes. With ``REDIS_URL`` the Redis channel layer (channels-redis)
carries notifications and channel events (``team.<id>``, ``org.<id>``). Notifications go
in batches (``push_to_channel_layer``, the deliverer ``notifications.apps`` registers in
``notifications.delivery``): one message per batch of up to ``BATCH_ITEMS`` to every web
process holding sockets (group ``notifications.hubs``, one channel per process), and each
process hands them to its sockets of their users, so a team's message is one channel-layer
message per process, not one per member. On the embedded defaults (no channel layer), each
web process polls the notification table twice a second for the users it holds sockets of,
so a notification made by any process (another web worker, a Celery task, manage.py) arrives
within about a second; channel events then reach the sockets of the same process only.
Presence (``online_users``) is a cache entry per connected user, refreshed by the process
holding the socket: the cache is Redis or the shared file cache, so it counts sockets of
every process.

Cost per process, whatever the number of sockets: a heartbeat's ``online_users`` comes from
one count per process every few seconds (``_Presence``: the organizations of all its users,
their members and their presence, three reads), not from a count per socket; a batch of
notifications (a team's message) is one channel-layer message per process; at most
``LAYER_CONCURRENCY`` channel-layer calls are in flight at a time, the bound that keeps many
sockets closing at once within the Redis connection pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.utils import timezone

from notifications.models import Notification
from notifications.ws_hooks import hook

if TYPE_CHECKING:
    from notifications.ws import NotificationConsumer

logger = logging.getLogger("roster.notifications")

# Twice a second: within the 2 s of the contract with room for a slow query on a busy host.
POLL_SECONDS = 0.5
# How far back each poll looks: a row committed late (a long transaction) is still found;
# what a socket already sent is remembered for longer than this, so nothing goes twice.
POLL_WINDOW = timedelta(seconds=30)
PRESENCE_SECONDS = 60
# How long one count of who is online serves the heartbeats of this process's sockets.
ONLINE_COUNT_SECONDS = 5.0
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


async def bounded(call, *args) -> None:
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
                await bounded(layer.group_add, HUBS_GROUP, self._channel)
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
                    await database_sync_to_async(mark_online)(users)
                    last_presence = time.monotonic()
                if polling:
                    found = await database_sync_to_async(_poll)(users, timezone.now() - POLL_WINDOW)
                    for notification in found:
                        for consumer in list(self.by_user.get(str(notification.user_id), ())):
                            await consumer.offer(notification.created_at, as_message(notification))
            except Exception:
                logger.exception("notifications socket poll failed")


def mark_online(user_ids: list) -> None:
    cache.set_many({_presence_key(u): 1 for u in user_ids}, timeout=PRESENCE_SECONDS)


def mark_offline(user_id) -> None:
    cache.delete(_presence_key(user_id))


def online_counts(user_ids: list[str]) -> dict[str, int]:
    """``online_users`` for each of ``user_ids``: how many members of their organizations
    (themselves included) are online. Three reads whatever the number of users: their
    organizations, those organizations' members, and the members' presence."""
    organizations = hook("organizations_of")(user_ids)
    members = hook("members_of")(sorted({o for orgs in organizations.values() for o in orgs}))
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
                    users = sorted({*hub.by_user, user_id})
                    started = time.monotonic()
                    self.counts = await database_sync_to_async(online_counts)(users)
                    self.counted_at = started
        return self.counts[user_id]


hub = _Hub()
presence = _Presence()


async def broadcast(group: str, message: dict) -> None:
    """``message`` to the sockets subscribed to ``group``: every process on Redis, this
    process on the embedded defaults."""
    layer = get_channel_layer()
    if layer is not None:
        await bounded(layer.group_send, group, {"type": "channel.event", "message": message})
        return
    for consumer in list(hub.by_group.get(group, ())):
        await consumer.channel_event({"message": message})
