# ruff: noqa: S608 - SQL text built from the queries these tests captured.
"""Audit lists page newest first by (occurred_at, id): a cursor carries both, the next page's
time bound prunes the monthly partitions on PostgreSQL, a person's two scans read through
the per-partition (party, occurred_at, id) indexes without the OR, and a cursor of paging by
id still works."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from audit.selectors import NEWEST_FIRST, events_of, security_log_page
from audit.services import record
from audit.sql import postgresql

EVENTS = "/api/v1/audit/events"
JAN = datetime(2031, 1, 10, tzinfo=UTC)
FEB = datetime(2031, 2, 10, tzinfo=UTC)
MAR = datetime(2031, 3, 10, tzinfo=UTC)


def record_at(moment: datetime, n: int, **kwargs) -> list[AuditEvent]:
    with time_machine.travel(moment, tick=False):
        return [record(action="test.paged", metadata={"i": i}, **kwargs) for i in range(n)]


def cursor(position: str, *, reverse: bool = False) -> str:
    text = f"p={position}" + ("&r=1" if reverse else "")
    return base64.b64encode(text.encode()).decode()


def walk(client, url: str, link: str = "next") -> list[tuple[str, list[str]]]:
    """(url, ids) of each page from ``url`` on, following ``link``."""
    pages = []
    while url:
        body = client.get(url).json()
        pages.append((url, [item["id"] for item in body["results"]]))
        url = body[link]
    return pages


def ids(pages) -> list[str]:
    return [i for _, page in pages for i in page]


@pytest.fixture
def out_of_order(member, other_member):
    """The member's events recorded FEB, then JAN, then MAR (ids out of time order), with
    several at one instant (ties), and someone else's in between."""
    feb = record_at(FEB, 3, actor=member)
    jan = record_at(JAN, 2, actor=other_member, target=member)
    record_at(JAN + timedelta(hours=1), 2, actor=other_member)
    mar = record_at(MAR, 2, actor=member, target=member)
    newest_first = sorted(feb + jan + mar, key=lambda e: (e.occurred_at, e.pk), reverse=True)
    return [str(e.uuid) for e in newest_first]


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 2, 3, 50])
def test_pages_go_by_time_then_id_forward_and_back(client_for, member, out_of_order, page_size):
    client = client_for(member)
    pages = walk(client, f"{EVENTS}?action=test.paged&page_size={page_size}")
    assert ids(pages) == out_of_order
    back = walk(client, client.get(pages[-1][0]).json()["previous"], "previous")
    assert ids(reversed(back)) == ids(pages[:-1])


@pytest.mark.django_db
def test_admins_whole_log_pages_by_time_too(client_for, admin_user, out_of_order):
    everything = ids(walk(client_for(admin_user), f"{EVENTS}?action=test.paged&page_size=2"))
    mine = [i for i in everything if i in set(out_of_order)]
    assert mine == out_of_order and len(everything) == len(out_of_order) + 2
    times = list(
        AuditEvent.objects.filter(action="test.paged")
        .order_by(*NEWEST_FIRST)
        .values_list("uuid", flat=True)
    )
    assert everything == [str(u) for u in times]


@pytest.mark.django_db
def test_a_cursor_of_paging_by_id_still_works(client_for, member, out_of_order):
    """``p=<id>`` as paging by id wrote it: the id is placed in time among the reader's
    events; an id no longer there bounds the page by id."""
    client = client_for(member)
    ordered = list(events_of(member).filter(action="test.paged").order_by(*NEWEST_FIRST)[:50])
    third = ordered[2]
    body = client.get(EVENTS, {"action": "test.paged", "cursor": cursor(str(third.pk))}).json()
    assert [item["id"] for item in body["results"]] == out_of_order[3:]
    assert body["previous"]
    back = client.get(body["previous"]).json()
    assert [item["id"] for item in back["results"]] == out_of_order[:3]
    # Backwards from an id, as a `previous` link of paging by id.
    body = client.get(
        EVENTS, {"action": "test.paged", "cursor": cursor(str(third.pk), reverse=True)}
    ).json()
    assert [item["id"] for item in body["results"]] == out_of_order[:2]
    # An id that is not there (pruned): the ids below it, newest first by time.
    gone = max(e.pk for e in ordered) + 1000
    body = client.get(EVENTS, {"action": "test.paged", "cursor": cursor(str(gone))}).json()
    assert [item["id"] for item in body["results"]] == out_of_order


@pytest.mark.django_db
def test_another_persons_event_id_in_an_old_cursor_tells_nothing(client_for, member, other_member):
    """An id of someone else's event is not placed in time (the lookup reads only what the
    reader may see): the page is bounded by id alone, as before."""
    mine = record_at(JAN, 1, actor=member)[0]
    theirs = record_at(MAR, 1, actor=other_member)[0]
    body = client_for(member).get(EVENTS, {"cursor": cursor(str(theirs.pk))}).json()
    assert str(mine.uuid) in [item["id"] for item in body["results"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "position",
    [
        "abc",
        "1_",
        "_1",
        "1_x",
        "1.5",
        "١٢_٣",  # digits, but not ASCII
        "9" * 30,
        "999999999999999999_1",  # past the last datetime
        "-999999999999999999_1",
        "1_" + "9" * 20,
        "",
    ],
)
def test_an_unreadable_position_is_400(client_for, member, position):
    response = client_for(member).get(EVENTS, {"cursor": cursor(position)})
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["attr"] == "cursor"


@pytest.mark.django_db
def test_a_persons_page_reads_each_party_without_the_or(member, out_of_order):
    with CaptureQueriesContext(connection) as captured:
        events_of(member).order_by(*NEWEST_FIRST)[:5]
    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) == 2 and all("LIMIT 5" in q for q in sql)
    assert all(q.count(str(member.pk)) == 1 for q in sql), sql  # no OR of actor and target


@pytest.mark.django_db
def test_without_its_or_a_scan_still_keeps_every_other_condition(
    member, other_member, out_of_order
):
    """Dropping the OR never widens a scan: other conditions (another person's involvement
    too, as the admin's user page combines) stay, and the rows are the OR query's."""
    both = events_of(member) & events_of(other_member)
    got = {e.pk for e in both.order_by(*NEWEST_FIRST)[:50]}
    me, them = str(member.pk), str(other_member.pk)
    expected = {
        e.pk
        for e in AuditEvent.objects.all()
        if me in (e.actor_id, e.target_id) and them in (e.actor_id, e.target_id)
    }
    assert got == expected and expected
    either = events_of(member) | events_of(other_member)  # an OR at the top: the plain query
    assert {e.pk for e in either.order_by(*NEWEST_FIRST)[:50]} == {
        e.pk
        for e in AuditEvent.objects.all()
        if me in (e.actor_id, e.target_id) or them in (e.actor_id, e.target_id)
    }


@pytest.mark.django_db
def test_the_security_log_pages_by_time(member, out_of_order):
    by_uuid = {str(e.uuid): e for e in AuditEvent.objects.filter(action="test.paged")}
    seen, before = [], ""
    while True:
        rows, older = security_log_page(member, before=before, size=2)
        seen += [str(e.uuid) for e in rows if e.action == "test.paged"]
        if older is None:
            break
        before = str(older)
    assert seen == out_of_order
    # An id that is gone bounds by id, as the page always did; junk is the first page.
    assert security_log_page(member, before="junk", size=2)[0][0] == by_uuid[out_of_order[0]]
    rows, _ = security_log_page(
        member, before=str(max(e.pk for e in by_uuid.values()) + 9), size=50
    )
    assert [str(e.uuid) for e in rows if e.action == "test.paged"] == out_of_order


@pytest.mark.django_db
def test_the_security_log_page_links_by_time(client, member, out_of_order):
    client.force_login(member)
    first = client.get(reverse("account-security-log"))
    assert first.status_code == 200
    assert first.context["events"][0].occurred_at >= first.context["events"][-1].occurred_at


# --- PostgreSQL: partitions pruned, an index of each on every partition --------------------


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="partitions exist on PostgreSQL only")
def test_a_cursor_page_leaves_the_later_months_out(client_for, member):
    postgresql.PARTITIONS.ensure(JAN, months_ahead=2)
    record_at(JAN, 2, actor=member)
    record_at(FEB, 2, actor=member)
    record_at(MAR, 2, actor=member)
    client = client_for(member)
    first = client.get(EVENTS, {"action": "test.paged", "page_size": 3}).json()
    with CaptureQueriesContext(connection) as captured:
        second = client.get(first["next"]).json()
    assert len(second["results"]) == 3
    reads = [q["sql"] for q in captured.captured_queries if "audit_auditevent" in q["sql"]]
    scans = [q for q in reads if "ORDER BY" in q and "LIMIT" in q]
    assert len(scans) == 2  # actor, target
    for sql in scans:
        plan = _plan(sql)
        assert "audit_auditevent_p203102" in plan
        assert "audit_auditevent_p203103" not in plan, plan  # past the cursor's time
        months = set(re.findall(r"audit_auditevent_p\d{6}", plan))
        assert months and all(month <= "audit_auditevent_p203102" for month in months)
        assert sql.count(str(member.pk)) == 1  # its party's condition, not the OR too


@pytest.mark.django_db
@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="partitions exist on PostgreSQL only")
def test_every_partition_has_the_time_indexes_of_a_person(member):
    postgresql.PARTITIONS.ensure(JAN, months_ahead=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, array_agg(pg_get_indexdef(x.indexrelid)) "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_index x ON x.indrelid = c.oid "
            "WHERE i.inhparent = 'audit_auditevent'::regclass GROUP BY c.relname"
        )
        indexes = dict(cursor.fetchall())
    assert "audit_auditevent_p203101" in indexes and "audit_auditevent_default" in indexes
    for name, definitions in indexes.items():
        text = "\n".join(definitions)
        assert "(actor_id, occurred_at, id)" in text, name
        assert "(target_id, occurred_at, id)" in text, name
        assert "(actor_id, id)" not in text and "(target_id, id)" not in text, name
