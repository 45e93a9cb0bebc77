"""The server side of tests/pages/test_notifications_live.py, run as its own process against
the web server's database: ``python tests/pages/notifications_live_side.py <command>`` prints
JSON.

- ``setup``: Ada owns an organization and approves requests for its resource
  ``production-db``; Bob is a member. Ada's session cookie for the browser.
- ``request LEVEL``: Bob asks for ``read`` or ``write`` access through the access service
  (which notifies Ada, the approver).
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

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from access.services import requests, resources  # noqa: E402
from accounts.models import User  # noqa: E402
from orgs.models import Organization  # noqa: E402
from orgs.services import members, organizations  # noqa: E402

PASSWORD = "a long enough pass phrase 1"


def _user(email: str, name: str) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, display_name=name)
    user.emailaddress_set.create(email=email, verified=True, primary=True)
    return user


def setup() -> dict:
    ada, bob = _user("ada@example.com", "Ada"), _user("bob@example.com", "Bob")
    org = organizations.org_create(name="Acme", slug="acme", actor=ada)
    members.member_add(organization=org, actor=ada, user=bob, roles=["member"])
    resources.resource_create(
        organization=org,
        actor=ada,
        key="production-db",
        name="Production database",
        levels=["read", "write"],
        approvers={"roles": [], "teams": [], "users": [str(ada.pk)]},
        max_duration_days=14,
        auto_approve_levels=[],
    )
    client = Client()
    client.force_login(ada)
    return {
        "ada": str(ada.pk),
        "cookie_name": settings.SESSION_COOKIE_NAME,
        "cookie": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }


def request(level: str) -> dict:
    bob = User.objects.get(email="bob@example.com")
    made = requests.request_submit(
        organization=Organization.objects.get(slug="acme"),
        requester=bob,
        resource="production-db",
        access_level=level,
        justification=f"Bob needs {level} access for the quarterly figures.",
        duration_days=1,
    )
    return {"id": str(made.pk)}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        print(json.dumps(setup()))
    elif command == "request":
        print(json.dumps(request(*args)))
    else:
        raise SystemExit(f"unknown command {command}")
