# ruff: noqa: S608 - SQL text is built from the table and column names fixed in this module.
"""Every usage decimal column keeps all its digits on SQLite too (``ExactDecimalField``).

PostgreSQL: no change (the columns stay NUMERIC(38, 6); this migration runs no SQL there).

SQLite: each column becomes ``decimal_text(38, 6)`` (TEXT affinity) instead of ``decimal``
(NUMERIC affinity, where SQLite kept binary floats). The table rebuilds copy the old values as
SQLite's text of them; ``to_canonical`` then rewrites each in the field's canonical form. A
value that the float column had already rounded stays as rounded as it was: exactly what
Django read before (15 significant digits; integers, which SQLite kept as integers, exactly).
Only what is written from now on keeps every digit.

Reversible: backwards, the values are written as plain decimal text first, which the rebuilt
NUMERIC columns turn back into floats.
"""

from decimal import ROUND_HALF_UP, Decimal

import django.core.validators
import usage.fields
from django.db import migrations


COLUMNS = [
    ("usage_usageevent", "quantity"),
    ("usage_idempotencykey", "quantity"),
    ("usage_hourlyrollup", "value"),
    ("usage_dailyrollup", "value"),
    ("usage_meter", "limit"),
    ("usage_meterlimitoverride", "limit"),
    ("usage_quotacrossing", "limit"),
    ("usage_quotacrossing", "used"),
]
MICRO = Decimal("0.000001")


def _rewrite(schema_editor, convert) -> None:
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    connection.ensure_connection()
    connection.connection.create_function("usage_0005_convert", 1, convert, deterministic=True)
    with connection.cursor() as cursor:
        for table, column in COLUMNS:
            cursor.execute(
                f'UPDATE "{table}" SET "{column}" = usage_0005_convert("{column}") '
                f'WHERE "{column}" IS NOT NULL'
            )


def _old_value(value) -> Decimal:
    """What the old column held, as Django read it: its text (15 significant digits of a
    float, or the integer) to 6 fractional digits."""
    return Decimal(str(value)).quantize(MICRO, rounding=ROUND_HALF_UP)


def to_canonical(apps, schema_editor):
    def convert(value):
        return usage.fields.encode(_old_value(value), max_digits=38, decimal_places=6)

    _rewrite(schema_editor, convert)


def to_plain(apps, schema_editor):
    def convert(value):
        # Integral values as integers, which the NUMERIC column keeps exactly (as before).
        number = usage.fields.decode(value)
        return str(int(number)) if number == number.to_integral_value() else format(number, "f")

    _rewrite(schema_editor, convert)


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_partition_usage_events_by_month"),
    ]

    operations = [
        migrations.AlterField(
            model_name="dailyrollup",
            name="value",
            field=usage.fields.ExactDecimalField(decimal_places=6, max_digits=38),
        ),
        migrations.AlterField(
            model_name="hourlyrollup",
            name="value",
            field=usage.fields.ExactDecimalField(decimal_places=6, max_digits=38),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="quantity",
            field=usage.fields.ExactDecimalField(decimal_places=6, max_digits=38),
        ),
        migrations.AlterField(
            model_name="meter",
            name="limit",
            field=usage.fields.ExactDecimalField(
                blank=True,
                decimal_places=6,
                help_text="Default per-user limit per window; empty means unlimited.",
                max_digits=38,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(0),
                    django.core.validators.MaxValueValidator(
                        Decimal("1.000000000000000000000000000E+30")
                    ),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="meterlimitoverride",
            name="limit",
            field=usage.fields.ExactDecimalField(
                blank=True,
                decimal_places=6,
                help_text="Empty means unlimited for this user.",
                max_digits=38,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(0),
                    django.core.validators.MaxValueValidator(
                        Decimal("1.000000000000000000000000000E+30")
                    ),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="quotacrossing",
            name="limit",
            field=usage.fields.ExactDecimalField(decimal_places=6, max_digits=38),
        ),
        migrations.AlterField(
            model_name="quotacrossing",
            name="used",
            field=usage.fields.ExactDecimalField(decimal_places=6, max_digits=38),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="quantity",
            field=usage.fields.ExactDecimalField(decimal_places=6, max_digits=38),
        ),
        migrations.RunPython(to_canonical, to_plain, elidable=False),
    ]
