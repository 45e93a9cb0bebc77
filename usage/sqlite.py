"""An exact SUM for SQLite, the development database.

Django keeps decimals on SQLite as binary floats (exact to 15 significant digits, which
ingestion enforces for fractional quantities) and SQLite adds them as floats, so a sum of
many such values loses micro-units. ``roster_exact_sum`` reads each value back as the
decimal it was written as and adds them as Decimals. PostgreSQL adds NUMERIC exactly.
"""

from __future__ import annotations

from decimal import Context, Decimal

# Django's own reading of a stored SQLite decimal (DatabaseOperations.get_decimalfield_converter).
_STORED = Context(prec=15)
_EXACT = Context(prec=60)

EXACT_SUM = "roster_exact_sum"


class _ExactSum:
    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value) -> None:
        if value is None:
            return
        if isinstance(value, float):
            number = _STORED.create_decimal_from_float(value)
        else:
            number = Decimal(value if isinstance(value, int) else str(value))
        self.total = number if self.total is None else _EXACT.add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else format(self.total, "f")


def register_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(EXACT_SUM, 1, _ExactSum)
