"""Who a person may send a notification to: the rule lives with the organizations.

``POST /api/v1/notifications/send`` (and the WebSocket's ``notification`` message) lets
managers reach the members of the teams they lead, organization admins their members and
platform admins anyone. Deciding that needs organizations, teams and ``orgs.permissions.can``;
``orgs`` sits above ``notifications`` in the layers, so it registers the rule here from its
``AppConfig.ready()`` (``orgs.notification_audience``):

    register(resolve, choices=choices)
    # resolve(*, actor, target_user_id=None, team_id=None) -> Audience
    # choices(*, actor) -> Choices: the teams and people the "Send a notification" page offers

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


@dataclass(frozen=True)
class Choices:
    """What the "Send a notification" page offers: ``(id, label)`` pairs, labels sorted."""

    teams: list[tuple[str, str]]
    users: list[tuple[str, str]]

    def __bool__(self) -> bool:
        return bool(self.teams or self.users)


Resolver = Callable[..., Audience]

_resolvers: list[Resolver] = []
_choosers: list[Callable[..., Choices]] = []


def register(resolve: Resolver, *, choices: Callable[..., Choices] | None = None) -> None:
    _resolvers[:] = [resolve]
    _choosers[:] = [choices] if choices is not None else []


def resolve(*, actor, target_user_id=None, team_id=None) -> Audience:
    if not _resolvers:
        # Without the organizations' rule nobody may send: refusing is the safe default.
        raise Forbidden("permission_denied", "Sending notifications is not available.")
    return _resolvers[0](actor=actor, target_user_id=target_user_id, team_id=team_id)


def choices(*, actor) -> Choices:
    """The teams and people ``actor`` may reach (none without the organizations' rule)."""
    if not _choosers:
        return Choices(teams=[], users=[])
    return _choosers[0](actor=actor)
