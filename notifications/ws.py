"""The notifications WebSocket, ``/ws/v1/notifications`` (docs/api.md, "WebSocket").

config/asgi.py routes ``websocket`` connections to ``application`` here, named by the
``WEBSOCKET_APPLICATION`` setting (config imports no app). The socket is a Channels
consumer on the web process's event loop; its database and cache work runs through
``database_sync_to_async``.

Layers. ``notifications`` sits below ``accounts`` and ``orgs``, so what the socket needs
from them (who is on it, the organizations directory) they register in
``notifications.ws_hooks`` from their ``AppConfig.ready()``.

A client's ``notification`` message goes through the HTTP send's service and rule
(``notifications.services.notifications_send``, ``notifications.audience``).

Delivery across processes (the Redis channel layer, or polling on the embedded defaults),
presence and their cost per process are the sockets' shared side: ``notifications.ws_hub``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host
from django.utils import timezone

from config.errors import DomainError
from notifications.models import Notification
from notifications.services import notifications_send
from notifications.ws_hooks import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, Identity, Refused, hook
from notifications.ws_hub import (
    POLL_WINDOW,
    as_message,
    bounded,
    broadcast,
    channel_group,
    hub,
    mark_offline,
    mark_online,
    presence,
)

logger = logging.getLogger("roster.notifications")

PATH = "ws/v1/notifications"

CLOSE_TOO_MANY = 4429
CLOSE_TOO_BIG = 1009

AUTH_SECONDS = 10.0
HEARTBEAT_SECONDS = 25.0
# Expiry, revocation and suspension are looked at this often (the contract: within 30 s).
RECHECK_SECONDS = 10.0
MESSAGES_PER_SECOND = 10
MAX_MESSAGE_CHARS = 16 * 1024
RESUME_LIMIT = 200
MAX_CHANNELS = 100


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


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
                identity = await database_sync_to_async(hook("cookie"))(session_key)
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
        hub.add(self)
        await database_sync_to_async(mark_online)([self.user_id])
        if self.channel_layer is not None:
            await hub.listen(self.channel_layer)
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
                await bounded(self.channel_layer.group_discard, group, self.channel_name)
        if hub.remove(self):
            await database_sync_to_async(mark_offline)(self.user_id)

    async def _heartbeat(self):
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            online = await presence.online_users(self.user_id)
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
        when = self.identity.when if self.identity is not None else None
        if when is not None:
            notification = message["notification"]
            moment = datetime.fromisoformat(notification["created_at"])
            message = {**message, "notification": {**notification, "when": when(moment)}}
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
            identity = await database_sync_to_async(hook("token"))(
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
        allowed = await database_sync_to_async(hook("may_subscribe"))(
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
        hub.join(self, group)
        if self.channel_layer is not None:
            await bounded(self.channel_layer.group_add, group, self.channel_name)

    async def _unsubscribe(self, message: dict) -> None:
        parsed = self._channel(message)
        if parsed is None:
            await self._error("invalid_channel", "A channel is team:<id> or org:<id>.")
            return
        channel, kind, object_id = parsed
        group = channel_group(channel)
        self.groups_joined.discard(group)
        hub.leave(self, group)
        if self.channel_layer is not None:
            await bounded(self.channel_layer.group_discard, group, self.channel_name)
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
        teams = await database_sync_to_async(hook("activity_teams"))(self.identity.user)
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


_consumer = NotificationConsumer.as_asgi()


async def application(scope, receive, send):
    """The ``websocket`` side of the web process (``WEBSOCKET_APPLICATION``): one path."""
    if scope["path"] != f"/{PATH}":
        await send({"type": "websocket.close", "code": 1000})  # before accepting: a 403
        return
    await _consumer(scope, receive, send)
