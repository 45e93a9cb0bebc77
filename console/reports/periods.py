"""A report's period: whole UTC days, resolved once when the report is asked for.

``daily`` is today, ``weekly`` the last 7 days and ``monthly`` the last 30 days, each ending
with today; ``custom`` runs from ``since`` to ``until``, both dates included. Whole days keep
every figure exact (usage is read from daily rollups plus the un-rolled tail) and let a
report be recomputed later over exactly the same span. The previous period, for trends, is
the span of the same length that ends where this one starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from config.errors import Invalid

PERIODS = ("daily", "weekly", "monthly", "custom")
LENGTH_DAYS = {"daily": 1, "weekly": 7, "monthly": 30}
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    since: date
    until: date  # included

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)

    def previous(self) -> Period:
        return Period(
            since=self.since - timedelta(days=self.days), until=self.since - timedelta(days=1)
        )

    def dates(self) -> list[date]:
        return [self.since + timedelta(days=i) for i in range(self.days)]

    def as_dict(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


def resolve(
    *, period: str, since: date | None, until: date | None, today: date | None = None
) -> Period:
    """The days ``period`` covers. Raises ``Invalid`` with a precise code for bad input."""
    today = today or datetime.now(UTC).date()
    if period not in PERIODS:
        raise Invalid("invalid_choice", f"Unknown period '{period}'.", "period")
    if period != "custom":
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                raise Invalid("not_allowed", f"'{name}' is for custom periods only.", name)
        return Period(since=today - timedelta(days=LENGTH_DAYS[period] - 1), until=today)
    for name, value in (("since", since), ("until", until)):
        if value is None:
            raise Invalid("required", f"A custom period needs '{name}'.", name)
    assert since is not None and until is not None  # noqa: S101 - narrowed just above
    if since > until:
        raise Invalid("invalid_range", "'since' is after 'until'.", "since")
    if until > today:
        raise Invalid(
            "period_in_future",
            f"The period ends in the future: 'until' is at most today ({today.isoformat()}, UTC).",
            "until",
        )
    resolved = Period(since=since, until=until)
    if resolved.days > MAX_DAYS:
        raise Invalid(
            "period_too_long",
            f"A report covers at most {MAX_DAYS} days; this period has {resolved.days}.",
            "since",
        )
    return resolved
