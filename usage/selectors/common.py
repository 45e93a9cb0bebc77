"""What every read of usage shares: exact decimals, parameters, and merging partial sums.

Values are exact ``Decimal``s with at most 6 fractional digits, totals and series points
alike, so the points add up to the totals to the last digit. The edges (the API's JSON,
the personal-data export) write them as exact JSON number literals, through ``number``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from django.db import connection

from usage.models import QUANTITY_DECIMAL_PLACES, Meter
from usage.sql import dialect

ZERO = Decimal(0)
_QUANT = Decimal(1).scaleb(-QUANTITY_DECIMAL_PLACES)
_ONE = Decimal(1)
# Room for any sum of NUMERIC(38, 6) values: the default 28 digits would round big sums.
EXACT = Context(prec=60)


def p_uuid(value) -> Any:
    """A UUID as the current database takes it as a query parameter."""
    return dialect().uuid_param(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def p_dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def as_dt(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_uuid(value) -> uuid.UUID | None:
    if value is None:
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def as_decimal(value) -> Decimal:
    """An aggregate read back as the exact decimal it stands for (6 fractional digits).

    PostgreSQL adds NUMERIC exactly. On SQLite the decimal columns hold every digit (as
    canonical text) and ``usage.sql.sqlite``'s exact functions answer sums and maxima as
    plain decimal text.
    """
    if value is None:
        return ZERO
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(_QUANT, context=EXACT)


def plain(value: Decimal) -> Decimal:
    """The same decimal without trailing zeros or an exponent: 12.500000 → 12.5, 3.0 → 3."""
    if value == value.to_integral_value():
        return value.quantize(_ONE, context=EXACT)
    return value.normalize(EXACT)


def number(value: Decimal) -> Decimal:
    """An exact decimal for the edges (API responses, exports): no trailing zeros.

    The API's renderer and the export's encoder (``config.api.renderers``) write a Decimal
    as the JSON number literal it holds, every digit kept (a float would keep only 15-17
    significant digits), so sums of the numbers match the totals to the last digit.
    """
    return plain(as_decimal(value))


def meters_by_id() -> dict[int, Meter]:
    return {m.id: m for m in Meter.objects.all()}


class Acc:
    """Combines partial aggregates of one meter with the meter's own aggregation."""

    __slots__ = ("aggregation", "value", "events")

    def __init__(self, aggregation: str):
        self.aggregation = aggregation
        self.value = ZERO
        self.events = 0

    def add(self, total, biggest, count, *, raw: bool) -> None:
        count = int(count or 0)
        if count == 0 and total is None:
            return
        if self.aggregation == Meter.Aggregation.MAX:
            self.value = max(self.value, as_decimal(biggest))
        elif self.aggregation == Meter.Aggregation.COUNT:
            # Rolled buckets of a count meter already hold the number of events.
            self.value = EXACT.add(self.value, Decimal(count) if raw else as_decimal(total))
        else:
            self.value = EXACT.add(self.value, as_decimal(total))
        self.events += count

    @property
    def result(self) -> Decimal:
        return plain(self.value)
