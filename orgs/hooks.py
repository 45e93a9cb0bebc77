"""What the apps above orgs do when a membership ends, in the same transaction.

``orgs`` sits below ``access`` (and the apps to come) in the layer order
(docs/architecture.md), so it never imports them; yet when a member is removed, leaves or is
suspended, or the organization is archived, what those apps gave the member there must end
with it (the access app revokes their grants). They say so here, from their
``AppConfig.ready()``:

    register_membership_ended(grants_end_for_membership)
    # handler(*, organization, user_id, reason, actor, request) -> None

``user_id`` is ``None`` when the organization is archived: every member's membership ends.
``reason`` is one of ``orgs.tokens``' ``REASON_*`` (or ``"erasure"``). The orgs services call
:func:`membership_ended` inside their transaction, after the change, with the organization
(and the membership) locked; a handler that raises rolls the change back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orgs.tokens import revoke_member_tokens, revoke_organization_tokens

MembershipEndedHandler = Callable[..., Any]

REASON_ERASURE = "erasure"

_membership_ended: list[MembershipEndedHandler] = []


def register_membership_ended(handler: MembershipEndedHandler) -> None:
    """Run ``handler(organization=, user_id=, reason=, actor=, request=)`` whenever a
    membership ends (``user_id`` ``None``: the whole organization was archived)."""
    if handler not in _membership_ended:
        _membership_ended.append(handler)


def membership_ended(
    *, organization: Any, user_id: Any, reason: str, actor: Any = None, request: Any = None
) -> None:
    """The one place a membership's end takes effect: the access tokens naming the
    organization stop working at once (``orgs.tokens``), then every registered handler."""
    if user_id is None:
        revoke_organization_tokens(organization=organization, actor=actor, request=request)
    else:
        revoke_member_tokens(
            organization=organization,
            user_id=user_id,
            actor=actor,
            reason=reason,
            request=request,
        )
    for handler in _membership_ended:
        handler(
            organization=organization,
            user_id=user_id,
            reason=reason,
            actor=actor,
            request=request,
        )
