"""The server side of tests/notifications/test_ws.py, run as its own process against the
web server's database: ``python tests/notifications/ws_side.py <command> [args]`` prints JSON.

- ``setup``: verified users: Ada (times in Tokyo, day first, 12-hour clock), owner of an
  organization and lead of its one team; Bob,
  outside it; Cy, to be suspended. For Ada two access tokens on sessions of their own (one
  to revoke), a session cookie, an API key with ``notifications:read`` and one without; for
  Bob and Cy an access token each.
- ``notify USER_ID TITLE``: ``notifications.services.notify`` from this process (after
  one to another user).
- ``revoke SESSION_ID``: revokes that API session (as signing out elsewhere does).
- ``suspend USER_ID``: suspends the account (as an admin does); Cy is there for that.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402

from accounts import apikeys, sessions, tokens  # noqa: E402
from accounts.models import ApiSession, User  # noqa: E402
from accounts.services.settings import settings_update  # noqa: E402
from accounts.services.users import user_set_status  # noqa: E402
from notifications.kinds import Kind  # noqa: E402
from notifications.services import notify  # noqa: E402
from orgs.services.organizations import org_create  # noqa: E402
from orgs.services.teams import team_create  # noqa: E402


def _user(email: str) -> User:
    user = User.objects.create_user(email=email, password="a long enough pass phrase 1")
    user.emailaddress_set.create(email=email, verified=True, primary=True)
    return user


def setup() -> dict:
    ada, bob, cy = _user("ada@example.com"), _user("bob@example.com"), _user("cy@example.com")
    # Ada reads times in Tokyo, day first, on a 12-hour clock (what a page's socket says).
    ada.timezone = "Asia/Tokyo"
    ada.save(update_fields=["timezone"])
    settings_update(user=ada, values={"date_format": "dmy", "time_format": "12h"}, actor=ada)
    org = org_create(name="Ada's", actor=ada)
    team = team_create(organization=org, actor=ada, name="Platform")  # Ada leads it
    client = Client()
    client.force_login(ada)
    _, key = apikeys.api_key_create(user=ada, name="ws", scopes=["notifications:read"], actor=ada)
    _, other_key = apikeys.api_key_create(user=ada, name="p", scopes=["profile:read"], actor=ada)
    pair = tokens.token_issue(user=ada)
    doomed = tokens.token_issue(user=ada)  # its own session, for the revocation test
    return {
        "ada": str(ada.pk),
        "bob": str(bob.pk),
        "org": str(org.pk),
        "team": str(team.pk),
        "token": pair.access,
        "doomed_token": doomed.access,
        "doomed_session": doomed.session_id,
        "bob_token": tokens.token_issue(user=bob).access,
        "cy": str(cy.pk),
        "cy_token": tokens.token_issue(user=cy).access,
        "cookie": client.cookies["sessionid"].value,
        "key": key,
        "key_without_scope": other_key,
    }


def main(command: str, *args: str) -> dict:
    if command == "setup":
        return setup()
    if command == "notify":
        user = User.objects.get(pk=args[0])
        # A first one to somebody else warms this fresh process up (its first email, its
        # first channel-layer connection): the test times delivery, not Python's start.
        notify(User.objects.exclude(pk=user.pk).first(), Kind.MESSAGE, "Warm-up", "-")
        return {"id": str(notify(user, Kind.MESSAGE, args[1], "from another process").pk)}
    if command == "revoke":
        session = ApiSession.objects.get(pk=args[0])
        sessions.api_session_revoke(session=session, actor=session.user, reason="test")
        return {}
    if command == "suspend":
        user = User.objects.get(pk=args[0])
        user_set_status(user=user, status=User.Status.SUSPENDED, actor=None)
        return {}
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
