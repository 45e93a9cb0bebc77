"""The dashboard on the admin index: right numbers, a fixed query budget, per-role sections."""

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from audit.services import record
from console.dashboard import dashboard_numbers
from slots.services import slot_create
from usage.models import Meter, UsageEvent

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


@contextmanager
def query_budget(limit: int, django_assert_max_num_queries):
    """At most ``limit`` queries. On PostgreSQL through pytest-django's assertion; on SQLite
    through an execute wrapper, because Django's SQLite debug cursor cannot format the
    usage selectors' ``strftime('%Y…')`` SQL (``sql % params``) that the stats run."""
    if connection.vendor == "postgresql":
        with django_assert_max_num_queries(limit):
            yield
        return
    executed: list[str] = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield
    assert len(executed) <= limit, "\n".join(executed)


def bulk_users(count: int, *, now) -> None:
    """``count`` users in one statement: a quarter suspended, a tenth joined in the last week."""
    password = make_password(None)
    users = []
    for i in range(count):
        suspended = i % 4 == 0
        users.append(
            User(
                email=f"bulk{i}@example.com",
                password=password,
                status=User.Status.SUSPENDED if suspended else User.Status.ACTIVE,
                is_active=not suspended,
                date_joined=now - timedelta(days=2 if i % 10 == 0 else 60),
                last_login=now - timedelta(days=1) if i % 5 == 0 else None,
            )
        )
    User.objects.bulk_create(users, batch_size=2000)


def usage_event(user, meter_key: str, quantity: int, *, occurred_at) -> UsageEvent:
    return UsageEvent.objects.create(
        user=user,
        meter=Meter.objects.get(key=meter_key),
        quantity=Decimal(quantity),
        occurred_at=occurred_at,
    )


@pytest.fixture
def busy_roster(admin_user, member):
    now = timezone.now()
    bulk_users(10_000, now=now)
    slot_create(owner=member, type="workspace", name="ws-1", actor=member)
    slot_create(owner=member, type="workspace", name="ws-2", actor=member)
    usage_event(member, "tokens.input", 100, occurred_at=now - timedelta(hours=1))
    usage_event(member, "tokens.input", 50, occurred_at=now - timedelta(days=3))
    usage_event(member, "tokens.input", 25, occurred_at=now - timedelta(days=20))
    for _ in range(3):
        record(action="auth.login.failed", metadata={"email": "x@example.com"})
    return now


def test_dashboard_numbers_match_the_data(busy_roster):
    numbers = dashboard_numbers()

    users = numbers["users"]
    # 10,000 bulk users + admin + member (both active, joined now).
    assert users["total"] == 10_002
    assert users["by_status"] == {"active": 7_502, "suspended": 2_500, "deactivated": 0}
    assert users["new"] == {"7d": 1_002, "30d": 1_002}
    assert users["active"] == {"7d": 2_000, "30d": 2_000}
    assert numbers["slots"]["active"] == 2
    assert numbers["usage"]["tokens.input"] == {"24h": 100, "7d": 150, "30d": 175}
    assert numbers["failed_logins_24h"] == 3
    assert numbers["queue"]["unrolled_events"] == 3
    assert numbers["queue"]["unsealed_events"] == AuditEvent.objects.count() > 3
    assert numbers["queue"]["last_seal_at"] is None
    assert numbers["queue"]["last_rollup_at"] is None
    chart_rows = {row["meter"]: row for row in numbers["usage_chart"]["rows"]}
    assert sum(1 for bar in chart_rows["tokens.input"]["bars"] if bar["height"] > 0) == 3


def test_dashboard_renders_under_a_fixed_query_budget_with_10k_users(
    busy_roster, admin_user, web_client_for, django_assert_max_num_queries
):
    client = web_client_for(admin_user)

    with query_budget(25, django_assert_max_num_queries):
        response = client.get(INDEX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="roster-dashboard"' in html
    assert 'data-status="suspended">2,500<' in html
    assert 'id="dash-failed-logins">3<' in html
    assert 'data-meter="tokens.input" data-period="30d">175<' in html
    assert "<svg" in html and "<rect" in html

    # Within the cache lifetime the figures cost no query at all: only the session, the
    # user and the admin's own recent actions are read.
    with CaptureQueriesContext(connection) as cached:
        assert client.get(INDEX).status_code == 200
    tables = ("slots_", "usage_", "audit_")
    figures = [q["sql"] for q in cached.captured_queries if "COUNT(" in q["sql"].upper()]
    assert figures == [], figures
    assert not any(t in q["sql"] for q in cached.captured_queries for t in tables)


def test_dashboard_is_cached_and_refresh_recomputes(admin_user, web_client_for):
    client = web_client_for(admin_user)
    client.get(INDEX)
    before = client.get(INDEX).context["dashboard"]["users"]["total"]

    User.objects.create_user(email="late@example.com", password=None)

    assert client.get(INDEX).context["dashboard"]["users"]["total"] == before
    assert client.get(f"{INDEX}?refresh=1").context["dashboard"]["users"]["total"] == before + 1


def test_dashboard_sections_follow_permissions(manager, web_client_for, django_user_model):
    response = web_client_for(manager).get(INDEX)

    dashboard = response.context["dashboard"]
    # Managers read users, slots, usage and audit: every section, read-only.
    assert dashboard["users"] is not None and dashboard["slots"] is not None
    assert dashboard["usage"] is not None and dashboard["failed_logins_24h"] is not None


def test_dashboard_hidden_from_members(member, web_client_for):
    response = web_client_for(member).get(INDEX)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_dashboard_without_usage_shows_zero_totals(admin_user, web_client_for):
    html = web_client_for(admin_user).get(INDEX).content.decode()

    assert 'data-meter="tokens.input" data-period="24h">0<' in html
    assert 'id="dash-backlog">0<' in html
    assert 'id="dash-last-seal">never<' in html
    assert 'id="dash-last-rollup">never<' in html


def test_dashboard_shows_last_seal_run(admin_user, web_client_for):
    from audit.tasks import seal_events

    record(action="auth.login.failed")
    assert seal_events() >= 1

    html = web_client_for(admin_user).get(INDEX).content.decode()

    assert 'id="dash-unsealed">0<' in html
    assert "now" in html.split('id="dash-last-seal">')[1][:40]


def test_dashboard_shows_last_rollup_run(admin_user, member, web_client_for):
    from usage.tasks import rollup

    usage_event(member, "tokens.input", 5, occurred_at=timezone.now())
    usage_event(member, "tokens.input", 7, occurred_at=timezone.now())
    assert rollup() == 2

    html = web_client_for(admin_user).get(INDEX).content.decode()

    assert 'id="dash-backlog">0<' in html
    cell = html.split('id="dash-last-rollup">')[1].split("</td>")[0]
    assert "now" in cell
    assert "(2 events)" in cell
