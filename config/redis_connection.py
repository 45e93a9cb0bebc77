"""Redis connections that fail fast while Redis is unreachable.

Every cache call is bounded by socket timeouts well under a second (settings), and once a
connection attempt fails or a reply times out, every connection of this process refuses at
once for ``UNREACHABLE_SECONDS`` instead of each request waiting out its own timeout: a
stopped or frozen Redis costs one timeout per process and window, and requests answer 503
straight away meanwhile (``config.outages``). The first call after the window tries again.
"""

from __future__ import annotations

import time

from redis.connection import Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNREACHABLE_SECONDS = 2.0
_unreachable_until = 0.0


def mark_unreachable() -> None:
    global _unreachable_until
    _unreachable_until = time.monotonic() + UNREACHABLE_SECONDS


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
