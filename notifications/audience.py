"""Who a person may send a notification to: the rule lives with the organizations.

``POST /api/v1/notifications/send`` (and the WebSocket's ``notification`` message) lets
managers reach the members of the teams they lead, organization admins their members and
platform admins anyone. Deciding that needs organizations, teams and ``orgs.permissions.can``;
``orgs`` sits above ``notifications`` in the layers, so it registers the rule here from its
``AppConfig.ready()`` (``orgs.notification_audience``):

    register(resolve)   # resolve(*, actor, target_user_id=None, team_id=None) -> Audience

``resolve`` raises ``config.errors.NotFound`` for a target the actor may not see and
``config.errors.Forbidden`` for one they see but may not reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.errors import Forbidden


@dataclass(frozen=True)
class Audience:
    recipients: list[Any]
    target: Any  # what the audit event names: the user or the team


Resolver = Callable[..., Audience]

_resolvers: list[Resolver] = []


def register(resolve: Resolver) -> None:
    _resolvers[:] = [resolve]


def resolve(*, actor, target_user_id=None, team_id=None) -> Audience:
    if not _resolvers:
        # Without the organizations' rule nobody may send: refusing is the safe default.
        raise Forbidden("permission_denied", "Sending notifications is not available.")
    return _resolvers[0](actor=actor, target_user_id=target_user_id, team_id=team_id)
