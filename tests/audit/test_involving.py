"""A person's events (actor or target) read as two merged index scans: same rows as the OR."""

import itertools

import pytest
from django.db.models import Q

from audit.models import AuditEvent
from audit.selectors import events_of, events_visible_to
from audit.services import record

EVENTS = "/api/v1/audit/events"


@pytest.fixture
def mixed_log(member, other_member, admin_user):
    """Interleaved events: by the member on themselves, on others, by others on the member,
    and among others only."""
    shapes = [
        (member, member),
        (member, other_member),
        (other_member, member),
        (admin_user, other_member),
        (other_member, admin_user),
        (admin_user, member),
    ]
    for i, (actor, target) in zip(range(40), itertools.cycle(shapes), strict=False):
        record(action=f"test.mixed.{i % 3}", actor=actor, target=target, metadata={"i": i})
    me = str(member.pk)
    return member, list(AuditEvent.objects.filter(Q(actor_id=me) | Q(target_id=me)))


def _ids(events):
    return [e.pk for e in events]


@pytest.mark.django_db
@pytest.mark.parametrize("ordering", ["-id", "id"])
@pytest.mark.parametrize(("start", "stop"), [(0, 1), (0, 5), (0, 11), (3, 9), (0, 100), (25, 40)])
def test_a_slice_matches_the_or_query(mixed_log, ordering, start, stop):
    member, _ = mixed_log
    me = str(member.pk)
    expected = AuditEvent.objects.filter(Q(actor_id=me) | Q(target_id=me)).order_by(ordering)
    got = AuditEvent.objects.involving(me).order_by(ordering)[start:stop]
    assert _ids(got) == _ids(expected[start:stop])


@pytest.mark.django_db
def test_filters_and_positions_apply_to_both_scans(mixed_log):
    member, all_mine = mixed_log
    me = str(member.pk)
    middle = sorted(_ids(all_mine))[len(all_mine) // 2]
    base = AuditEvent.objects.filter(Q(actor_id=me) | Q(target_id=me))
    for narrowed in (
        lambda qs: qs.filter(action="test.mixed.1"),
        lambda qs: qs.filter(id__lt=middle),
        lambda qs: qs.filter(id__gt=middle, action__startswith="test.mixed."),
    ):
        got = narrowed(AuditEvent.objects.involving(me)).order_by("-id")[:7]
        assert _ids(got) == _ids(narrowed(base).order_by("-id")[:7])


@pytest.mark.django_db
def test_an_event_on_oneself_comes_once(member):
    for i in range(3):
        record(action="test.self", actor=member, target=member, metadata={"i": i})
    got = AuditEvent.objects.involving(str(member.pk)).order_by("-id")[:10]
    assert [e.metadata["i"] for e in got] == [2, 1, 0]


@pytest.mark.django_db
def test_nobody_elses_event_comes_through(mixed_log, other_member, admin_user):
    member, all_mine = mixed_log
    got = events_of(member).order_by("-id")[:1000]
    assert {e.pk for e in got} == {e.pk for e in all_mine}
    me = str(member.pk)
    assert all(me in (e.actor_id, e.target_id) for e in got)
    visible = events_visible_to(member).order_by("id")[:1000]
    assert {e.pk for e in visible} == {e.pk for e in all_mine}


@pytest.mark.django_db
def test_unsliced_and_other_orderings_read_the_plain_query(mixed_log):
    member, all_mine = mixed_log
    qs = AuditEvent.objects.involving(str(member.pk))
    assert {e.pk for e in qs} == {e.pk for e in all_mine}
    assert qs.count() == len(all_mine)
    by_action = list(qs.order_by("action", "id")[:5])
    assert _ids(by_action) == _ids(sorted(all_mine, key=lambda e: (e.action, e.pk))[:5])
    assert qs.order_by("-id")[0].pk == max(_ids(all_mine))
    newest = sorted(_ids(all_mine), reverse=True)[:3]
    assert list(qs.order_by("-id").values_list("id", flat=True)[:3]) == newest
    assert [row["id"] for row in qs.order_by("-id").values("id")[:3]] == newest


@pytest.mark.django_db
def test_a_page_costs_two_bounded_queries(mixed_log, django_assert_num_queries):
    member, _ = mixed_log
    with django_assert_num_queries(2) as captured:
        events_of(member).order_by("-id")[:5]
    assert all("LIMIT 5" in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [1, 4, 7])
def test_the_api_pages_forward_and_back_over_a_members_log(client_for, mixed_log, page_size):
    member, all_mine = mixed_log
    client = client_for(member)
    url, pages = f"{EVENTS}?page_size={page_size}", []
    while url:
        body = client.get(url).json()
        pages.append((url, [item["id"] for item in body["results"]]))
        url = body["next"]
    newest_first = [str(e.uuid) for e in sorted(all_mine, key=lambda e: -e.pk)]
    assert [i for _, page in pages for i in page] == newest_first
    # And back again from the last page through the `previous` links.
    url, back = client.get(pages[-1][0]).json()["previous"], []
    while url:
        body = client.get(url).json()
        back.insert(0, [item["id"] for item in body["results"]])
        url = body["previous"]
    assert [i for page in back for i in page] == [i for _, page in pages[:-1] for i in page]
