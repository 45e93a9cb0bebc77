"""How stored notifications leave Roster: the hooks the apps above fill.

``notifications`` sits just above ``audit`` in the layer order (docs/architecture.md), so
it imports neither ``accounts`` (where the typed settings live) nor the WebSocket code.
They register here, from their ``AppConfig.ready()``:

    register(deliver)                          # deliver(notifications) -> None, after commit
    register_email_preference(wanting_email)   # wanting_email(*, users, kind) -> set of pks

Delivery goes in batches: the notifications one transaction made with one call (a team's
message: one per member) reach each deliverer as one list, and the email settings of all
their users are read at once, so that a batch costs a fixed number of queries and one
hand-over to the channel layer, not one of each per recipient.

Deliverers run after the notifications' transaction commits, in registration order; one
that raises is logged and the others still run: the rows are stored whatever happens to a
delivery, so nothing is lost when nobody is connected. Without an email preference
registered, nothing goes by email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger("roster.notifications")

Deliverer = Callable[[Sequence[Any]], None]
EmailPreference = Callable[..., set]

_deliverers: list[Deliverer] = []
_email_preference: list[EmailPreference] = []


def register(deliver: Deliverer) -> Deliverer:
    """Call ``deliver(notifications)`` for every batch of notifications, after it commits."""
    if deliver not in _deliverers:
        _deliverers.append(deliver)
    return deliver


def unregister(deliver: Deliverer) -> None:
    if deliver in _deliverers:
        _deliverers.remove(deliver)


def register_email_preference(wanting_email: EmailPreference) -> None:
    """The one rule for "which of ``users`` want ``kind`` by email" (accounts' typed
    setting): ``wanting_email(*, users, kind)`` returns the pks of those who do."""
    _email_preference[:] = [wanting_email]


def wanting_email(*, users: Sequence[Any], kind: str) -> set:
    if not _email_preference or not users:
        return set()
    return set(_email_preference[0](users=users, kind=kind))


def run_deliverers(notifications: Sequence[Any]) -> None:
    for deliver in list(_deliverers):
        try:
            deliver(notifications)
        except Exception:
            logger.exception(
                "notification delivery failed",
                extra={
                    "notification_ids": [str(n.pk) for n in notifications[:20]],
                    "notifications": len(notifications),
                    "deliverer": repr(deliver),
                },
            )
