"""``ExactDecimalField``: a decimal column that keeps every digit on every database.

PostgreSQL stores it as ``NUMERIC(max_digits, decimal_places)``, exactly as ``DecimalField``.
Django's SQLite backend declares ``DecimalField`` columns ``decimal`` (NUMERIC affinity): SQLite
turns the text Django writes into a binary float, so a value with more than 15 significant
digits comes back rounded (and Django reads every such column through a 15-digit converter).
On SQLite this field declares ``decimal_text`` (TEXT affinity) and writes each value in one
canonical text form of fixed width that sorts like the number, so that every digit is kept
and ``=``, ``<``, ``ORDER BY``, ``MAX`` and CHECK constraints in SQL still work numerically:

- zero and positive values: the digits, zero-padded to ``max_digits - decimal_places``
  integer digits, with exactly ``decimal_places`` fractional digits: with (38, 6), 12.5 is
  ``00000000000000000000000000000012.500000``;
- negative values: ``-`` and then the nines' complement of that form, so that every negative
  sorts below zero (``-`` before ``0``) and a larger magnitude sorts lower.

A value that needs more digits than the column holds is a ``DataError`` on both databases,
and more fractional digits are rounded half away from zero, as PostgreSQL's NUMERIC does.
SQL that adds such columns on SQLite goes through ``usage.sql.sqlite``'s exact aggregate;
SQLite's own arithmetic on them (``SUM``, the ORM's ``Sum`` or ``F() + 1``) works on floats,
so usage does none of it there.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from django.db import DataError, models

SQLITE_TYPE = "decimal_text"
_NINES = str.maketrans("0123456789", "9876543210")
# What Django's SQLite backend makes of a float: 15 significant digits (its converter's).
_FLOAT = Context(prec=15)


def encode(value: Decimal, *, max_digits: int, decimal_places: int) -> str:
    """The canonical, order-preserving text of ``value`` for a (max_digits, decimal_places)
    column; ``DataError`` if it does not fit."""
    if not value.is_finite():
        raise DataError(f"{value} is not a finite number.")
    quantum = Decimal(1).scaleb(-decimal_places)
    try:
        exact = value.quantize(
            quantum,
            rounding=ROUND_HALF_UP,
            context=Context(prec=max_digits, traps=[InvalidOperation]),
        )
    except InvalidOperation:
        raise DataError(
            f"{value} needs more than {max_digits} digits ({decimal_places} after the point)."
        ) from None
    width = max_digits + (1 if decimal_places else 0)
    text = f"{exact.copy_abs():0{width}.{decimal_places}f}"  # copy_abs: no rounding
    return "-" + text.translate(_NINES) if exact < 0 else text


def decode(text: str) -> Decimal:
    """The decimal that canonical text (or plain, non-negative decimal text) stands for."""
    if text.startswith("-"):
        return Decimal(text[1:].translate(_NINES)).copy_negate()
    return Decimal(text)


def stored_decimal(value: str | int | float) -> Decimal:
    """What SQLite hands back for such a column: canonical text, or a number it computed
    from such columns (e.g. the ORM's Sum, with Django's 15 digits of a float)."""
    if isinstance(value, str):
        return decode(value)
    if isinstance(value, float):
        return _FLOAT.create_decimal_from_float(value)
    return Decimal(value)


class ExactDecimalField(models.DecimalField):
    description = "Exact decimal number (NUMERIC; canonical text on SQLite)"

    def get_internal_type(self) -> str:
        # Not "DecimalField": Django's SQLite backend would read the column through its
        # float converter. The column type on other databases is DecimalField's (db_type).
        return "ExactDecimalField"

    def db_type(self, connection) -> str | None:
        if connection.vendor == "sqlite":
            return f"{SQLITE_TYPE}({self.max_digits}, {self.decimal_places})"
        return connection.data_types["DecimalField"] % self.db_type_parameters(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)  # a Decimal or None
        if value is None or connection.vendor != "sqlite":
            return value
        return encode(value, max_digits=self.max_digits, decimal_places=self.decimal_places)

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, Decimal):
            return value
        return stored_decimal(value)
