"""What the notifications socket and a team notification cost in queries: fixed, however
many sockets a web process holds and however many members a team has (notifications.ws_hub
``online_counts``, notifications.services ``notify_many``)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.notification_settings import setting_key
from accounts.services.settings import settings_update
from notifications.kinds import Kind
from notifications.models import Notification
from notifications.services import notifications_send
from notifications.ws_hub import mark_offline, mark_online, online_counts
from orgs.models import Membership
from orgs.services import members, organizations, teams
from tests.factories import UserFactory
from tests.orgs.conftest import verified


def _organization(slug: str, size: int):
    owner = verified(UserFactory(email=f"owner@{slug}.example"))
    org = organizations.org_create(name=slug.title(), slug=slug, actor=owner)
    people = [owner]
    for n in range(size - 1):
        person = verified(UserFactory(email=f"p{n}@{slug}.example"))
        members.member_add(organization=org, actor=owner, user=person)
        people.append(person)
    return org, people


def _ids(people) -> list[str]:
    return [str(p.pk) for p in people]


@pytest.fixture(autouse=True)
def _clean_presence():
    cache.clear()
    yield
    cache.clear()


def _tick_queries(user_ids: list[str]) -> tuple[int, dict[str, int]]:
    with CaptureQueriesContext(connection) as queries:
        counts = online_counts(user_ids)
    return len(queries), counts


@pytest.mark.django_db
def test_a_heartbeat_tick_counts_with_the_same_queries_for_3_or_30_sockets():
    _org, small = _organization("small", 3)
    _org, large = _organization("large", 30)
    loner = UserFactory(email="loner@example.com")
    few = [small[0], small[1], loner]
    many = small + large + [loner]

    mark_online(_ids(many))
    few_queries, _ = _tick_queries(_ids(few))
    many_queries, counts = _tick_queries(_ids(many))
    # The users' organizations and those organizations' members: one query each.
    assert few_queries == many_queries == 2
    assert counts[str(small[2].pk)] == 3
    assert counts[str(large[0].pk)] == 30
    assert counts[str(loner.pk)] == 1  # in no organization: only themselves


@pytest.mark.django_db
def test_a_heartbeat_counts_the_online_members_of_every_organization_once():
    org_a, a = _organization("alpha", 4)
    _org_b, b = _organization("beta", 3)
    both = a[1]
    members.member_add(organization=_org_b, actor=b[0], user=both)
    mark_online(_ids([a[0], both, b[0], b[1]]))
    counts = online_counts(_ids([a[0], both, b[0]]))
    assert counts[str(a[0].pk)] == 2  # a0 and both; a2, a3 are offline
    assert counts[str(both.pk)] == 4  # a0, both, b0, b1: counted once though in both
    assert counts[str(b[0].pk)] == 3
    mark_offline(str(both.pk))
    assert online_counts(_ids([a[0]]))[str(a[0].pk)] == 1
    # Only active memberships count: a suspended member, online, is not among them.
    mark_online(_ids([a[2]]))
    assert online_counts(_ids([a[0]]))[str(a[0].pk)] == 2
    Membership.objects.filter(organization=org_a, user=a[2]).update(
        status=Membership.Status.SUSPENDED
    )
    assert online_counts(_ids([a[0]]))[str(a[0].pk)] == 1


def _team_of(size: int, slug: str):
    org, people = _organization(slug, size + 1)
    lead = people[0]
    team = teams.team_create(
        organization=org,
        actor=lead,
        name="Everyone",
        initial_members=[p.email for p in people[1:]],
    )
    # Half the members also want messages by email: the email path runs in every batch.
    for person in people[1::2]:
        settings_update(user=person, values={setting_key(Kind.MESSAGE): True}, actor=person)
    return lead, team, people[1:]


def _send_queries(lead, team, capture) -> int:
    with CaptureQueriesContext(connection) as queries, capture(execute=True):
        sent = notifications_send(actor=lead, team_id=team.pk, title="All hands", message="Now")
    assert len(sent) == Notification.objects.filter(title="All hands", from_user=lead).count()
    return len(queries)


@pytest.mark.django_db
def test_a_team_notification_costs_the_same_queries_for_3_or_12_members(
    django_capture_on_commit_callbacks,
):
    lead_small, small, small_people = _team_of(3, "trio")
    lead_large, large, large_people = _team_of(12, "dozen")
    mail.outbox.clear()
    few = _send_queries(lead_small, small, django_capture_on_commit_callbacks)
    emailed_few = len(mail.outbox)
    many = _send_queries(lead_large, large, django_capture_on_commit_callbacks)
    # Stored in one insert, the email settings of every recipient read at once, delivered
    # as one batch: the count does not grow with the team.
    assert few == many
    assert emailed_few == len(small_people[::2]) and emailed_few > 0
    assert len(mail.outbox) - emailed_few == len(large_people[::2])
    assert {m.to[0] for m in mail.outbox[emailed_few:]} == {p.email for p in large_people[::2]}
