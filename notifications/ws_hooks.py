"""What the notifications WebSocket (``notifications.ws``) asks of the apps above
``notifications``: who is on a socket (``accounts``) and the organizations directory
(``orgs``). ``notifications`` sits below them in the layers, so they register here from their
``AppConfig.ready()``:

    register_authenticator(token=fn, cookie=fn)      # accounts.ws: Identity or Refused
    register_directory(may_subscribe=, organizations_of=, members_of=, activity_teams=)  # orgs.ws
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The close codes an authenticator's refusal or recheck answers with.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


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
    # A page's socket (the session cookie): a time as this person reads it on the pages, for
    # each notification's ``when`` (the live list shows what a reload would). None: no ``when``.
    when: Callable[[datetime], str] | None = None


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


def hook(name: str) -> Callable:
    try:
        return _hooks[name]
    except KeyError:
        raise RuntimeError(f"notifications.ws: no {name!r} hook registered") from None
