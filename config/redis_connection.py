"""Redis connections that fail fast while Redis is unreachable.

Every cache call is bounded by socket timeouts well under a second (settings), and once a
connection attempt fails or a reply times out, every connection of this process refuses at
once for ``UNREACHABLE_SECONDS`` instead of each request waiting out its own timeout: a
stopped or frozen Redis costs one timeout per process and window, and requests answer 503
straight away meanwhile (``config.outages``). The first call after the window tries again.

Each new connection also learns the server's ``run_id``, which Redis draws anew at every
start and which differs between a primary and its replicas: ``server_identity()`` lets
cached facts name the server that holds them, so that a Redis restored from an older
snapshot, or a replica promoted in its place, is recognised as another server whose old
entries prove nothing (accounts.sessions). ``recovered()`` tells, once, that this process
reached Redis again after failing to, so that writes that failed meanwhile can be redone.
"""

from __future__ import annotations

import time

from redis.connection import Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNREACHABLE_SECONDS = 2.0
_unreachable_until = 0.0
_failed_since_last_recovery = False
_identity = ""


def mark_unreachable() -> None:
    global _unreachable_until, _failed_since_last_recovery
    _unreachable_until = time.monotonic() + UNREACHABLE_SECONDS
    _failed_since_last_recovery = True


def server_identity() -> str:
    """The ``run_id`` of the Redis server this process last connected to ("" before any)."""
    return _identity


def recovered() -> bool:
    """True once after this process reached Redis again following a failure."""
    global _failed_since_last_recovery
    if _failed_since_last_recovery and not unreachable():
        _failed_since_last_recovery = False
        return True
    return False


def unreachable() -> bool:
    return time.monotonic() < _unreachable_until


class _FailFast:
    def connect(self):
        if self._sock is None and unreachable():
            raise RedisConnectionError("Redis was unreachable moments ago; not retrying yet.")
        try:
            super().connect()
        except (RedisConnectionError, RedisTimeoutError):
            mark_unreachable()
            raise

    def on_connect_check_health(self, *args, **kwargs):
        global _identity
        super().on_connect_check_health(*args, **kwargs)
        try:
            self.send_command("INFO", "server")
            info = self.read_response()
        except ResponseError:  # INFO renamed away by the operator: no identity to compare
            info = ""
        if isinstance(info, bytes):
            info = info.decode()
        for line in str(info).splitlines():
            if line.startswith("run_id:"):
                _identity = line.partition(":")[2].strip()
                break

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        except RedisTimeoutError:
            # A frozen server: the connection is dropped by redis-py; refuse new ones a while.
            mark_unreachable()
            raise


class FailFastConnection(_FailFast, Connection):
    pass


class FailFastSSLConnection(_FailFast, SSLConnection):
    pass


def connection_class_for(url: str) -> type[Connection]:
    """The connection class for a ``redis://`` or ``rediss://`` URL."""
    return FailFastSSLConnection if url.startswith("rediss://") else FailFastConnection
