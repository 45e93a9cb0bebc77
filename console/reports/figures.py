"""The figures of a report, computed from the records of the apps that own them.

Every figure reads its app's data for a scope (an organization, or one team of it: the
team's members) and a period (``console.reports.periods``), in a fixed number of queries
whatever the number of members or days: one per source, grouped by day in the database.

- members, seats: active memberships; seats as ``orgs.selectors.with_seats`` counts them;
- sign-ins, failed sign-ins: ``auth.login.succeeded`` / ``auth.login.failed`` audit events
  about a member of the scope (a failure for an unknown address is about nobody);
- active users: members with a successful sign-in or a usage event in the period;
- MFA coverage: members with a second factor (``accounts.selectors.mfa_enabled_expression``);
- slots by status: the members' slots;
- usage per meter: daily rollups plus the un-rolled tail (``usage.selectors.tail``), exact;
- access requests: opened in the period (by a member), approved and denied in the period,
  and the median time from asking to the decision of those decided in the period.

Members, seats, MFA coverage and slots are the present state (as of the report): their
history is not recorded, so they have no previous period to compare with.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_noop

from access.models import AccessRequest, Grant
from accounts.selectors import mfa_enabled_expression
from audit.models import AuditEvent
from console.reports.periods import Period
from orgs.models import Membership, Organization, Team, TeamMembership
from orgs.selectors import with_seats
from slots.lifecycle import SlotStatus
from slots.models import Slot
from usage.models import Meter
from usage.selectors.common import Acc, as_dt, as_uuid
from usage.selectors.tail import fetch_rollups_and_tail

SIGN_IN_OK = "auth.login.succeeded"
SIGN_IN_FAILED = "auth.login.failed"

# Metric keys a report may ask for, with the figures each one adds.
METRICS: dict[str, str] = {
    "members": "Active members of the scope.",
    "seats": "Seats used (members and pending invitations) and the limit; organization only.",
    "active_users": "Members who signed in or used a meter in the period.",
    "sign_ins": "Successful sign-ins of members.",
    "failed_sign_ins": "Failed sign-ins on members' accounts.",
    "mfa_coverage": "Share of members with a second factor, in percent.",
    "slots": "Members' slots by status.",
    "usage": "Usage per meter.",
    "access_requests": "Access requests opened, approved, denied; median hours to decision.",
}
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "team_performance": tuple(METRICS),
    "activity_monitoring": ("active_users", "sign_ins", "failed_sign_ins", "access_requests"),
    "usage": ("active_users", "usage"),
    "access_review": (),
}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Decimal) -> int | float:
    """An exact usage decimal as a JSON number: an integer when whole."""
    if value == value.to_integral_value():
        return int(value)
    return float(str(value.normalize()))


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


class Scope:
    """The members a report covers: an organization's, or one of its teams'."""

    def __init__(self, organization: Organization, team: Team | None):
        self.organization = organization
        self.team = team
        members = Membership.objects.filter(
            organization=organization, status=Membership.Status.ACTIVE
        )
        if team is not None:
            members = members.filter(
                Exists(TeamMembership.objects.filter(team=team, user_id=OuterRef("user_id")))
            )
        rows = list(
            members.annotate(mfa=mfa_enabled_expression(OuterRef("user_id"))).values_list(
                "user_id", "mfa"
            )
        )
        self.user_ids: list[uuid.UUID] = [user_id for user_id, _ in rows]
        self.with_mfa = sum(1 for _, mfa in rows if mfa)
        self.ids_as_text = [str(u) for u in self.user_ids]


# Figure labels are stored in English inside the sealed result (its digest covers them);
# gettext_noop only marks them for the catalogues, and the report page translates them
# when it shows them.
SLOT_LABELS = {
    "provisioning": gettext_noop("Slots provisioning"),
    "active": gettext_noop("Slots active"),
    "suspended": gettext_noop("Slots suspended"),
    "released": gettext_noop("Slots released"),
}


def _figure(key: str, label: str, value: Any, *, unit: str = "", **extra: Any) -> dict:
    return {"key": key, "label": label, "value": value, "unit": unit, **extra}


def _series(period: Period, counts: dict[date, int | float]) -> list[dict]:
    return [{"date": d.isoformat(), "value": counts.get(d, 0)} for d in period.dates()]


class Calculator:
    """Computes the figures of one scope for a period and, with trends, the one before."""

    def __init__(self, scope: Scope, period: Period, *, trends: bool):
        self.scope = scope
        self.period = period
        self.previous = period.previous() if trends else None
        self.span_start = self.previous.start if self.previous else period.start

    def _split(self, per_day: dict[date, Any]) -> tuple[dict[date, Any], dict[date, Any]]:
        current = {d: v for d, v in per_day.items() if self.period.since <= d <= self.period.until}
        before = {}
        if self.previous is not None:
            before = {
                d: v for d, v in per_day.items() if self.previous.since <= d <= self.previous.until
            }
        return current, before

    def _trend(self, key: str, label: str, current: dict, before: dict, **extra) -> dict:
        value = sum(current.values())
        figure = _figure(key, label, value, series=_series(self.period, current), **extra)
        if self.previous is not None:
            figure.update(trend(value, sum(before.values())))
        return figure

    # --- present state ------------------------------------------------------------------

    def members(self) -> list[dict]:
        return [_figure("members", gettext_noop("Members"), len(self.scope.user_ids))]

    def seats(self) -> list[dict]:
        if self.scope.team is not None:
            return []
        row = (
            with_seats(Organization.objects.filter(pk=self.scope.organization.pk))
            .values("member_total", "pending_total", "seat_limit")
            .get()
        )
        return [
            _figure(
                "seats",
                gettext_noop("Seats used"),
                row["member_total"] + row["pending_total"],
                limit=row["seat_limit"],
            )
        ]

    def mfa_coverage(self) -> list[dict]:
        total = len(self.scope.user_ids)
        percent = round(100 * self.scope.with_mfa / total, 1) if total else None
        return [
            _figure(
                "mfa_coverage",
                gettext_noop("MFA coverage"),
                percent,
                unit="%",
                numerator=self.scope.with_mfa,
                denominator=total,
            )
        ]

    def slots(self) -> list[dict]:
        counts = dict(
            Slot.objects.filter(owner_id__in=self.scope.user_ids)
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
        )
        return [
            _figure(
                f"slots.{status}", SLOT_LABELS.get(status, f"Slots {status}"), counts.get(status, 0)
            )
            for status in SlotStatus.values
        ]

    # --- over the period ----------------------------------------------------------------

    def _sign_in_rows(self) -> list[tuple[str, date, str]]:
        if not hasattr(self, "_sign_ins"):
            self._sign_ins = [
                (action, _day(day), target)
                for action, day, target in AuditEvent.objects.filter(
                    action__in=[SIGN_IN_OK, SIGN_IN_FAILED],
                    target_type="user",
                    target_id__in=self.scope.ids_as_text,
                    occurred_at__gte=self.span_start,
                    occurred_at__lt=self.period.end,
                )
                .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
                .order_by()
                .values_list("action", "day", "target_id")
            ]
        return self._sign_ins

    def _usage_rows(self) -> list[tuple[date, uuid.UUID, int, Any, Any, int, bool]]:
        if not hasattr(self, "_usage"):
            wanted = set(self.scope.user_ids)
            self._usage = []
            if wanted:
                for bucket, user, meter, subtotal, biggest, count, raw in fetch_rollups_and_tail(
                    keys=("bucket", "user", "meter"),
                    granularity="day",
                    start=self.span_start,
                    end=self.period.end,
                ):
                    user_id = as_uuid(user)
                    if user_id in wanted:
                        day = as_dt(bucket).date()
                        self._usage.append((day, user_id, meter, subtotal, biggest, count, raw))
        return self._usage

    def sign_ins(self) -> list[dict]:
        per_day: dict[date, int] = defaultdict(int)
        for action, day, _ in self._sign_in_rows():
            if action == SIGN_IN_OK:
                per_day[day] += 1
        return [self._trend("sign_ins", gettext_noop("Sign-ins"), *self._split(per_day))]

    def failed_sign_ins(self) -> list[dict]:
        per_day: dict[date, int] = defaultdict(int)
        for action, day, _ in self._sign_in_rows():
            if action == SIGN_IN_FAILED:
                per_day[day] += 1
        return [
            self._trend("failed_sign_ins", gettext_noop("Failed sign-ins"), *self._split(per_day))
        ]

    def active_users(self) -> list[dict]:
        active: dict[date, set[str]] = defaultdict(set)
        for action, day, target in self._sign_in_rows():
            if action == SIGN_IN_OK:
                active[day].add(str(uuid.UUID(target)))
        for day, user_id, *_ in self._usage_rows():
            active[day].add(str(user_id))

        def distinct(since: date, until: date) -> int:
            return len(set().union(*[ids for d, ids in active.items() if since <= d <= until]))

        per_day = {d: len(ids) for d, ids in active.items()}
        current, _ = self._split(per_day)
        value = distinct(self.period.since, self.period.until)
        figure = _figure(
            "active_users",
            gettext_noop("Active users"),
            value,
            series=_series(self.period, current),
        )
        if self.previous is not None:
            figure.update(trend(value, distinct(self.previous.since, self.previous.until)))
        return [figure]

    def usage(self) -> list[dict]:
        meters = {m.id: m for m in Meter.objects.all()}
        accs: dict[tuple[int, date], Acc] = {}
        for day, _user, meter_id, subtotal, biggest, count, raw in self._usage_rows():
            accs.setdefault((meter_id, day), Acc(meters[meter_id].aggregation)).add(
                subtotal, biggest, count, raw=bool(raw)
            )
        figures = []
        for meter in sorted(meters.values(), key=lambda m: m.key):
            per_day = {d: acc.value for (mid, d), acc in accs.items() if mid == meter.id}
            if not per_day and not meter.is_active:
                continue
            current, before = self._split(per_day)

            def total(values, meter=meter) -> int | float:
                values = list(values)
                if meter.aggregation == Meter.Aggregation.MAX:
                    return _number(max(values, default=Decimal(0)))
                return _number(sum(values, Decimal(0)))

            value = total(current.values())
            figure = _figure(
                f"usage.{meter.key}",
                meter.name,
                value,
                unit=meter.unit,
                series=[
                    {"date": d.isoformat(), "value": _number(current.get(d, Decimal(0)))}
                    for d in self.period.dates()
                ],
            )
            if self.previous is not None:
                figure.update(trend(value, total(before.values())))
            figures.append(figure)
        return figures

    def access_requests(self) -> list[dict]:
        span = Q(created_at__gte=self.span_start, created_at__lt=self.period.end) | Q(
            decided_at__gte=self.span_start, decided_at__lt=self.period.end
        )
        rows = list(
            AccessRequest.objects.filter(
                span,
                organization=self.scope.organization,
                requester_id__in=self.scope.user_ids,
            )
            .order_by()
            .values_list("status", "created_at", "decided_at")
        )
        opened: dict[date, int] = defaultdict(int)
        approved: dict[date, int] = defaultdict(int)
        denied: dict[date, int] = defaultdict(int)
        hours: dict[date, list[float]] = defaultdict(list)
        for status, created_at, decided_at in rows:
            opened[created_at.astimezone(UTC).date()] += 1
            if decided_at is None or status not in (
                AccessRequest.Status.APPROVED,
                AccessRequest.Status.DENIED,
            ):
                continue
            day = decided_at.astimezone(UTC).date()
            (approved if status == AccessRequest.Status.APPROVED else denied)[day] += 1
            hours[day].append((decided_at - created_at).total_seconds() / 3600)
        figures = [
            self._trend(
                "access_requests.opened",
                gettext_noop("Access requests opened"),
                *self._split(opened),
            ),
            self._trend(
                "access_requests.approved",
                gettext_noop("Access requests approved"),
                *self._split(approved),
            ),
            self._trend(
                "access_requests.denied",
                gettext_noop("Access requests denied"),
                *self._split(denied),
            ),
        ]
        figures.append(self._median_hours_to_decision(hours))
        return figures

    def _median_hours_to_decision(self, hours: dict[date, list[float]]) -> dict:
        current, before = self._split(hours)

        def median(per_day: dict[date, list[float]]) -> float | None:
            values = [h for day_hours in per_day.values() for h in day_hours]
            return round(statistics.median(values), 2) if values else None

        figure = _figure(
            "access_requests.median_hours_to_decision",
            gettext_noop("Median time to decision"),
            median(current),
            unit="h",
            series=[
                {"date": d.isoformat(), "value": median({d: current.get(d, [])}) or 0}
                for d in self.period.dates()
            ],
        )
        if self.previous is not None:
            figure.update(trend(figure["value"], median(before)))
        return figure

    def figures(self, metrics: list[str]) -> list[dict]:
        out: list[dict] = []
        for metric in METRICS:
            if metric in metrics:
                out.extend(getattr(self, metric)())
        return out


def trend(value: int | float | None, previous: int | float | None) -> dict[str, Any]:
    """The previous period's value, the difference and the change in percent of the
    previous value (null when there is nothing to compare with or the previous is 0)."""
    if value is None or previous is None:
        return {"previous": previous, "difference": None, "percentage": None}
    difference = value - previous
    if isinstance(difference, float):
        difference = round(difference, 6)
    percentage = round(100 * difference / previous, 1) if previous else None
    return {"previous": previous, "difference": difference, "percentage": percentage}


def access_review(scope: Scope, *, as_of: datetime) -> dict[str, list[dict]]:
    """Every active grant and every role holder of the scope, for a periodic review."""
    grants = (
        Grant.objects.filter(
            organization=scope.organization,
            user_id__in=scope.user_ids,
            status=Grant.Status.ACTIVE,
            expires_at__gt=as_of,
        )
        .select_related("user")
        .order_by("resource_key", "user__email", "id")
    )
    memberships = (
        Membership.objects.filter(organization=scope.organization, user_id__in=scope.user_ids)
        .select_related("user")
        .prefetch_related("roles")
        .order_by("user__email")
    )
    return {
        "grants": [
            {
                "id": str(g.id),
                "user": {"id": str(g.user_id), "email": g.user.email},
                "resource": g.resource_key,
                "access_level": g.access_level,
                "starts_at": iso(g.starts_at),
                "expires_at": iso(g.expires_at),
            }
            for g in grants
        ],
        "role_holders": [
            {
                "user": {
                    "id": str(m.user_id),
                    "email": m.user.email,
                    "display_name": m.user.display_name,
                },
                "roles": sorted(r.key for r in m.roles.all()),
                "permissions": sorted(m.permissions or []),
                "joined_at": iso(m.joined_at),
            }
            for m in memberships
        ],
    }
