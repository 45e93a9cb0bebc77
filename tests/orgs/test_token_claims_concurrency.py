"""No token outlives its membership, whatever the interleaving (PostgreSQL row locks): a
token login naming the organization and the member's removal (or the archive) race; either
the login commits first and the removal revokes its session, or the login waits and is
refused."""

from __future__ import annotations

import importlib
import threading
import time

import pytest
from django.conf import settings
from django.db import connection, transaction

from accounts.models import ApiSession
from accounts.tokens import token_issue
from config.errors import Invalid
from orgs import tokens as org_tokens
from orgs.models import Role
from orgs.services import members, organizations
from tests.factories import UserFactory
from tests.orgs.conftest import verified

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (row locks)"),
    pytest.mark.django_db(transaction=True),
]

HOLD = 0.5


@pytest.fixture(autouse=True)
def _seeded():
    """Transactional tests flush the database between tests, seeded rows included."""
    seed = importlib.import_module("orgs.migrations.0002_seed_plans_and_builtin_roles")
    for key, name in seed.BUILTIN_ROLES:
        Role.objects.get_or_create(
            organization=None, key=key, defaults={"name": name, "builtin": True}
        )


@pytest.fixture
def acme():
    owner = verified(UserFactory(email="owner@example.com"))
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    person = verified(UserFactory(email="person@example.com"))
    members.member_add(organization=org, actor=owner, user=person, roles=["member"])
    return org, owner, person


def _in_thread(work) -> tuple[threading.Thread, list]:
    out: list = []

    def run() -> None:
        try:
            out.append(work())
        except Exception as exc:  # noqa: BLE001 - asserted on by the test
            out.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_login_that_locked_the_membership_first_is_revoked_by_the_removal(acme, monkeypatch):
    org, owner, person = acme
    locked = threading.Event()
    real = org_tokens.effective_permissions

    def slow_permissions(user, organization):
        locked.set()  # the membership row is locked by now
        time.sleep(HOLD)
        return real(user, organization)

    monkeypatch.setattr(org_tokens, "effective_permissions", slow_permissions)
    login, issued = _in_thread(lambda: token_issue(user=person, organization="acme"))
    assert locked.wait(10)
    started = time.monotonic()
    members.member_remove(organization=org, user_id=person.pk, actor=owner)
    waited = time.monotonic() - started
    login.join(10)

    pair = issued[0]
    assert not isinstance(pair, Exception), pair
    session = ApiSession.objects.get(pk=pair.session_id)
    assert session.revoked_at is not None
    assert session.revoke_reason == org_tokens.REASON_MEMBER_REMOVED
    assert waited >= HOLD / 2  # the removal waited for the login's lock


@pytest.mark.parametrize("ending", ["remove", "suspend", "archive"])
def test_a_login_that_comes_second_waits_and_is_refused(acme, ending):
    org, owner, person = acme
    ended = threading.Event()

    def end() -> None:
        with transaction.atomic():
            if ending == "remove":
                members.member_remove(organization=org, user_id=person.pk, actor=owner)
            elif ending == "suspend":
                members.member_update(
                    organization=org, user_id=person.pk, actor=owner, status="suspended"
                )
            else:
                organizations.org_archive(organization=org, actor=owner)
            ended.set()
            time.sleep(HOLD)

    ender, _ = _in_thread(end)
    assert ended.wait(10)
    with pytest.raises(Invalid) as refused:
        token_issue(user=person, organization="acme")
    ender.join(10)
    assert refused.value.code == "organization_unavailable"
    assert not ApiSession.objects.filter(user=person).exists()
