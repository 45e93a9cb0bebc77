"""The apps a user authorized through "Sign in with Roster" (accounts.oidc_provider), and
ending them.

A grant is what ``allauth.idp.oidc`` keeps for one client and one user: its ``Token`` rows
(authorization codes, access tokens, refresh tokens; each stored as a hash). Roster keeps no
grant table of its own: a client is "connected" while it holds a token that has not
expired, and the scopes shown are the union of those tokens' scopes.

- **Revoke** (the "Connected apps" page) deletes every token of that client for the user:
  its access tokens stop working at once (allauth looks each one up), its refresh token
  can no longer be exchanged, and the next authorization asks for consent again.
  Audited ``oidc.revoked`` (client, ``count`` of tokens, reason; never a token value).
- **Whatever ends a user's other sessions ends their OIDC tokens too**
  (``accounts.sessions.revoke_user_sessions``): signing out everywhere on the sessions page
  or the API, the admin's "Sign out everywhere", a password change or reset, an MFA change,
  the proof of an address, suspension, deactivation and erasure. An app signed in through
  Roster is one more session of the account; a person who signs everything else out because
  someone else may hold the account wants those apps out too. The client signs in again
  (with consent) through Roster, which then applies the new password and second factor.
- **Export**: each connected client with its scopes and dates; never a token or its hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from allauth.idp.oidc.models import Token
from django.db import transaction
from django.db.models import Max, Min

from accounts.models import User
from audit.services import record
from config.errors import NotFound

REVOKED = "oidc.revoked"
# The reason of a revocation on the "Connected apps" page.
REVOKED_BY_USER = "revoked_by_user"


def _live_tokens(user: User):
    return Token.objects.valid().filter(user_id=user.pk, client__isnull=False)


def oidc_grants_of(*, user: User) -> list[dict[str, Any]]:
    """The clients holding live tokens of ``user``, most recently used first: ``client_id``,
    ``client_name``, ``scopes`` (sorted), ``authorized_at`` (the oldest live token),
    ``last_used_at`` (the newest token issued)."""
    rows = (
        _live_tokens(user)
        .values("client_id", "client__name")
        .annotate(first=Min("created_at"), last=Max("created_at"))
        .order_by("-last", "client_id")
    )
    scopes: dict[str, set[str]] = {}
    for token in _live_tokens(user).only("client_id", "scopes"):
        scopes.setdefault(token.client_id, set()).update(token.get_scopes())
    return [
        {
            "client_id": r["client_id"],
            "client_name": r["client__name"],
            "scopes": sorted(scopes.get(r["client_id"], ())),
            "authorized_at": r["first"],
            "last_used_at": r["last"],
        }
        for r in rows
    ]


def oidc_grant_revoke(*, user: User, client_id: str, actor, request=None) -> int:
    """Delete every token ``client_id`` holds for ``user``; ``NotFound`` when it holds none
    that is live (another user's client, an unknown id, or already revoked)."""
    with transaction.atomic():
        tokens = Token.objects.select_for_update().filter(user_id=user.pk, client_id=client_id)
        if not tokens.valid().exists():
            raise NotFound("not_found", "No connected app with this id.")
        count = _delete_and_audit(
            user=user,
            client_id=client_id,
            tokens=tokens,
            actor=actor,
            request=request,
            reason=REVOKED_BY_USER,
        )
    return count


def oidc_grants_revoke_all(*, user: User, actor, request=None, reason: str) -> int:
    """Delete every OIDC token of ``user`` (every client); one ``oidc.revoked`` per client
    that held a live one. Returns how many tokens went."""
    total = 0
    with transaction.atomic():
        tokens = Token.objects.select_for_update().filter(user_id=user.pk)
        live_clients = sorted(
            set(tokens.valid().filter(client__isnull=False).values_list("client_id", flat=True))
        )
        for client_id in live_clients:
            total += _delete_and_audit(
                user=user,
                client_id=client_id,
                tokens=tokens.filter(client_id=client_id),
                actor=actor,
                request=request,
                reason=reason,
            )
        # Expired leftovers (and tokens of no client) carry nothing worth an event.
        total += tokens.delete()[0]
    return total


def _delete_and_audit(*, user: User, client_id: str, tokens, actor, request, reason: str) -> int:
    count = len(list(tokens))  # the rows are locked by the caller's select_for_update
    tokens.delete()
    record(
        action=REVOKED,
        actor=actor,
        target=("oidc_client", client_id),
        request=request,
        metadata={"user_id": str(user.pk), "count": count, "reason": reason},
    )
    return count


def oidc_grants_export(*, user: User) -> list[dict[str, Any]]:
    """The export section: connected clients, their scopes and dates (no token values)."""
    return [
        {
            "client_id": g["client_id"],
            "client_name": g["client_name"],
            "scopes": g["scopes"],
            "authorized_at": _ts(g["authorized_at"]),
            "last_used_at": _ts(g["last_used_at"]),
        }
        for g in oidc_grants_of(user=user)
    ]


def _ts(value: datetime | None) -> str | None:
    # accounts.selectors imports accounts.sessions, which imports this module.
    from accounts.selectors import timestamp

    return timestamp(value)
