"""Figures from known data: each counted from the app that owns it, in bounded queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.models import AccessRequest
from audit.services import record
from console.reports import figures, periods
from console.reports.models import Report
from orgs.services import members, teams
from slots.models import Slot, SlotType
from tests.factories import UserFactory
from tests.mfa import totp_activate
from usage.models import Meter
from usage.services import usage_events_ingest

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def sign_in(user, *, ok=True, at=None):
    with time_machine.travel(at or NOW - timedelta(hours=1), tick=False):
        record(
            action="auth.login.succeeded" if ok else "auth.login.failed",
            actor=user if ok else None,
            target=user,
            metadata={"door": "api"},
        )


def by_key(report: Report) -> dict[str, dict]:
    return {f["key"]: f for f in report.result["figures"]}


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def test_team_figures_from_known_data(world, generate):
    # Core: manager (lead), member, spare. 3 sign-ins, 1 failed; 2 of the 3 with MFA.
    sign_in(world.member)
    sign_in(world.member)
    sign_in(world.spare)
    sign_in(world.spare, ok=False)
    sign_in(world.outsider)  # not in the organization
    sign_in(world.admin)  # in the organization, not in the team
    totp_activate(world.member)
    totp_activate(world.spare)
    report = generate(world.manager, world.org, team_id=world.core.pk)
    assert report.status == "ready"
    found = by_key(report)
    assert found["members"]["value"] == 3
    assert found["sign_ins"]["value"] == 3
    assert found["failed_sign_ins"]["value"] == 1
    assert found["active_users"]["value"] == 2
    assert found["mfa_coverage"]["value"] == 66.7
    assert (found["mfa_coverage"]["numerator"], found["mfa_coverage"]["denominator"]) == (2, 3)
    assert "seats" not in found  # a team has no seats of its own
    series = found["sign_ins"]["series"]
    assert len(series) == 7 and series[-1] == {"date": "2026-12-07", "value": 3}
    assert sum(p["value"] for p in series) == 3


def test_mfa_coverage_two_of_four_is_fifty_percent(world, generate):
    extra = UserFactory(email="fourth@example.com")
    members.member_add(organization=world.org, actor=world.owner, user=extra, roles=["member"])
    teams.team_member_add(team=world.core, actor=world.manager, user=extra)
    totp_activate(world.member)
    totp_activate(world.manager)
    report = generate(world.manager, world.org, team_id=world.core.pk, metrics=["mfa_coverage"])
    figure = by_key(report)["mfa_coverage"]
    assert (figure["numerator"], figure["denominator"], figure["value"]) == (2, 4, 50.0)


def test_organization_figures_seats_slots_usage(world, generate):
    slot_type = SlotType.objects.get(key="workspace")
    config = {"cpu": 2, "memory_gb": 4, "region": "eu-west"}
    Slot.objects.create(
        owner=world.member, type=slot_type, name="a", status="active", config=config
    )
    Slot.objects.create(
        owner=world.member, type=slot_type, name="b", status="suspended", config=config
    )
    Slot.objects.create(
        owner=world.outsider, type=slot_type, name="c", status="active", config=config
    )
    meter = Meter.objects.filter(is_active=True, aggregation="sum").order_by("key").first()
    usage_events_ingest(
        caller=world.member,
        body={
            "events": [{"meter": meter.key, "quantity": 2}, {"meter": meter.key, "quantity": 3.5}]
        },
    )
    usage_events_ingest(caller=world.outsider, body={"meter": meter.key, "quantity": 100})
    report = generate(world.owner, world.org)
    found = by_key(report)
    # owner, admin, manager, member, spare, spare2: 6 members, plus 1 pending invitation.
    assert found["members"]["value"] == 6
    assert found["seats"]["value"] == 7
    assert found["slots.active"]["value"] == 1
    assert found["slots.suspended"]["value"] == 1
    assert found[f"usage.{meter.key}"]["value"] == 5.5
    assert found["active_users"]["value"] == 1  # used a meter, never signed in
    from console.reports import services

    assert services.report_verify(report=Report.objects.get(pk=report.pk))["ok"] is True


def test_access_request_figures_and_median(world, generate):
    def ask(requester, *, created, status="pending", decided=None):
        return AccessRequest.objects.create(
            organization=world.org,
            requester=requester,
            resource_key="db",
            access_level="read",
            justification="work",
            duration_days=1,
            status=status,
            created_at=created,
            decide_by=created + timedelta(days=7),
            decided_at=decided,
        )

    day = NOW - timedelta(days=1)
    ask(world.member, created=day, status="approved", decided=day + timedelta(hours=2))
    ask(world.member, created=day, status="approved", decided=day + timedelta(hours=4))
    ask(world.spare, created=day, status="denied", decided=day + timedelta(hours=9))
    ask(world.spare, created=day)
    ask(world.admin, created=day, status="approved", decided=day + timedelta(hours=1))
    report = generate(world.manager, world.org, team_id=world.core.pk, metrics=["access_requests"])
    found = by_key(report)
    assert found["access_requests.opened"]["value"] == 4
    assert found["access_requests.approved"]["value"] == 2
    assert found["access_requests.denied"]["value"] == 1
    assert found["access_requests.median_hours_to_decision"]["value"] == 4.0


def test_trends_previous_period_difference_percentage(world, generate):
    # Weekly: this week 3 sign-ins, the week before 2 (and one 15 days ago: neither).
    for days_ago in (0, 1, 6):
        sign_in(world.member, at=NOW - timedelta(days=days_ago, hours=1))
    for days_ago in (7, 13):
        sign_in(world.member, at=NOW - timedelta(days=days_ago, hours=1))
    sign_in(world.member, at=NOW - timedelta(days=15))
    report = generate(world.owner, world.org, include_trends=True, metrics=["sign_ins", "members"])
    assert report.result["period"] == {
        "kind": "weekly",
        "since": "2026-12-01",
        "until": "2026-12-07",
    }
    assert report.result["previous_period"] == {"since": "2026-11-24", "until": "2026-11-30"}
    figure = by_key(report)["sign_ins"]
    assert (figure["value"], figure["previous"], figure["difference"], figure["percentage"]) == (
        3,
        2,
        1,
        50.0,
    )
    assert by_key(report)["members"].get("previous") is None  # present state: no history


def test_trend_maths():
    assert figures.trend(3, 2) == {"previous": 2, "difference": 1, "percentage": 50.0}
    assert figures.trend(1, 3) == {"previous": 3, "difference": -2, "percentage": -66.7}
    assert figures.trend(5, 0) == {"previous": 0, "difference": 5, "percentage": None}
    assert figures.trend(None, 4) == {"previous": 4, "difference": None, "percentage": None}
    assert figures.trend(0.3, 0.1)["difference"] == 0.2


def test_periods_resolve_whole_days():
    today = NOW.date()
    assert periods.resolve(period="daily", since=None, until=None, today=today).days == 1
    weekly = periods.resolve(period="weekly", since=None, until=None, today=today)
    assert (weekly.since.isoformat(), weekly.until.isoformat()) == ("2026-12-01", "2026-12-07")
    assert periods.resolve(period="monthly", since=None, until=None, today=today).days == 30
    year = periods.resolve(
        period="custom", since=today - timedelta(days=365), until=today, today=today
    )
    assert year.days == 366


def test_access_review_lists_grants_and_role_holders(world, generate):
    from access.models import Grant

    Grant.objects.create(
        user=world.member,
        organization=world.org,
        resource_key="db",
        access_level="read",
        expires_at=NOW + timedelta(days=3),
    )
    Grant.objects.create(
        user=world.spare,
        organization=world.org,
        resource_key="db",
        access_level="write",
        expires_at=NOW - timedelta(days=1),  # expired
    )
    report = generate(world.admin, world.org, report_type="access_review")
    grants = report.result["grants"]
    assert [(g["user"]["email"], g["access_level"]) for g in grants] == [
        ("member@example.com", "read")
    ]
    holders = {h["user"]["email"]: h["roles"] for h in report.result["role_holders"]}
    assert holders["owner@example.com"] == ["owner"]
    assert holders["manager@example.com"] == ["manager"]
    assert len(holders) == 6


def test_report_queries_do_not_grow_with_members(world, generate):
    def queries() -> int:
        report = generate(world.owner, world.org, include_trends=True)
        with CaptureQueriesContext(connection) as ctx:
            Report.objects.filter(pk=report.pk).update(status="pending")
            from console.reports import services

            services.report_run(report_id=report.pk)
        return len(ctx.captured_queries)

    before = queries()
    for n in range(15):
        user = UserFactory(email=f"many{n}@example.com")
        members.member_add(organization=world.org, actor=world.owner, user=user, roles=["member"])
        sign_in(user)
        totp_activate(user)
    assert queries() == before


def test_report_types_have_their_own_default_figures(world, generate):
    activity = generate(world.owner, world.org, report_type="activity_monitoring")
    assert {f["key"] for f in activity.result["figures"]} == {
        "active_users",
        "sign_ins",
        "failed_sign_ins",
        "access_requests.opened",
        "access_requests.approved",
        "access_requests.denied",
        "access_requests.median_hours_to_decision",
    }
    usage = generate(world.owner, world.org, report_type="usage", period="monthly")
    keys = [f["key"] for f in usage.result["figures"]]
    assert keys[0] == "active_users" and all(k.startswith("usage.") for k in keys[1:])
    assert all(len(f["series"]) == 30 for f in usage.result["figures"])


def test_a_report_that_cannot_be_computed_is_failed_and_audited(world, generate, monkeypatch):
    from audit.models import AuditEvent

    def broken(self, metrics):
        raise RuntimeError("boom")

    monkeypatch.setattr(figures.Calculator, "figures", broken)
    report = generate(world.owner, world.org)
    assert report.status == "failed" and report.result is None and report.sha256 == ""
    event = AuditEvent.objects.get(action="console.report.failed", target_id=str(report.pk))
    assert event.changes == {"error": "RuntimeError"}
