"""How a stored notification leaves Roster: the hooks the apps above fill.

``notifications`` sits just above ``audit`` in the layer order (docs/architecture.md), so
it imports neither ``accounts`` (where the typed settings live) nor the WebSocket code.
They register here, from their ``AppConfig.ready()``:

    register(deliver)                        # deliver(notification) -> None, after commit
    register_email_preference(wants_email)   # wants_email(*, user, kind) -> bool

Deliverers run after the notification's transaction commits, in registration order; one
that raises is logged and the others still run: the row is stored whatever happens to a
delivery, so nothing is lost when nobody is connected. Without an email preference
registered, nothing goes by email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("roster.notifications")

Deliverer = Callable[[Any], None]
EmailPreference = Callable[..., bool]

_deliverers: list[Deliverer] = []
_email_preference: list[EmailPreference] = []


def register(deliver: Deliverer) -> Deliverer:
    """Call ``deliver(notification)`` for every notification, after it commits."""
    if deliver not in _deliverers:
        _deliverers.append(deliver)
    return deliver


def unregister(deliver: Deliverer) -> None:
    if deliver in _deliverers:
        _deliverers.remove(deliver)


def register_email_preference(wants_email: EmailPreference) -> None:
    """The one rule for "does ``user`` want ``kind`` by email" (accounts' typed setting)."""
    _email_preference[:] = [wants_email]


def wants_email(*, user, kind: str) -> bool:
    if not _email_preference:
        return False
    return bool(_email_preference[0](user=user, kind=kind))


def run_deliverers(notification) -> None:
    for deliver in list(_deliverers):
        try:
            deliver(notification)
        except Exception:
            logger.exception(
                "notification delivery failed",
                extra={"notification_id": str(notification.pk), "deliverer": repr(deliver)},
            )
