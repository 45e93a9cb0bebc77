"""Usage's decimal columns keep every digit on every database (``usage.fields``): the
NUMERIC(38, 6) limits, the order SQL sees, the buckets at the limit, the SQLite migration."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Context, Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max, Min
from django.utils import timezone

from usage.fields import decode, encode
from usage.models import NO_SLOT, DailyRollup, HourlyRollup, Meter, UsageEvent
from usage.selectors import usage_export_rows, usage_quota, usage_stats
from usage.services import usage_quota_check, usage_rollup

# The largest and smallest non-zero value NUMERIC(38, 6) holds: 32 + 6 digits.
COLUMN_MAX = Decimal("99999999999999999999999999999999.999999")
MICRO = Decimal("0.000001")
# The default context rounds at 28 digits (even for a unary minus).
EXACT = Context(prec=60)
LIMITS = [
    COLUMN_MAX.copy_negate(),
    Decimal("-1000"),
    Decimal("-12.5"),
    -MICRO,
    Decimal(0),
    MICRO,
    Decimal("0.5"),
    Decimal("12345678901.234567"),
    Decimal("123456789012345678901234.123456"),
    COLUMN_MAX,
]


def encoded(value: Decimal) -> str:
    return encode(value, max_digits=38, decimal_places=6)


def test_exact_decimal_text_sorts_like_the_numbers_and_reads_back_exactly():
    values = [*LIMITS, Decimal("-0.5"), Decimal("-0"), Decimal("0.1"), Decimal("9.99")]
    random.Random(7).shuffle(values)
    assert sorted(values, key=encoded) == sorted(values)
    for value in values:
        assert decode(encoded(value)) == value
        assert len(encoded(value)) == 39 + (value < 0)  # fixed width: text order is order
    assert encoded(Decimal("-0")) == encoded(Decimal(0))


@pytest.mark.parametrize(
    "value",
    [
        EXACT.add(COLUMN_MAX, MICRO),
        EXACT.add(COLUMN_MAX, MICRO).copy_negate(),
        Decimal("1e32"),
        Decimal("NaN"),
    ],
)
def test_exact_decimal_text_refuses_what_the_column_cannot_hold(value):
    with pytest.raises(DataError):
        encoded(value)


def test_exact_decimal_rounds_extra_fractional_digits_like_numeric():
    assert decode(encoded(Decimal("0.0000005"))) == MICRO  # half away from zero
    assert decode(encoded(Decimal("-0.0000005"))) == -MICRO
    assert decode(encoded(Decimal("0.0000004"))) == 0


@pytest.mark.django_db
def test_exact_decimal_columns_compare_sort_and_aggregate_numerically_in_sql():
    """Meter limits take any value the column holds (the admin form refuses negatives)."""
    for n, limit in enumerate(LIMITS):
        Meter.objects.create(key=f"exact.m{n}", name=f"m{n}", limit=limit)
    mine = Meter.objects.filter(key__startswith="exact.")
    assert list(mine.order_by("limit").values_list("limit", flat=True)) == LIMITS
    assert list(mine.order_by("-limit").values_list("limit", flat=True)) == LIMITS[::-1]
    assert mine.filter(limit__lt=0).count() == 4
    assert mine.filter(limit__gte=MICRO).count() == 5
    assert mine.get(limit=Decimal("-12.500")).key == "exact.m2"
    assert mine.get(limit=Decimal("12345678901.234567")).key == "exact.m7"
    assert mine.aggregate(top=Max("limit"), bottom=Min("limit")) == {
        "top": COLUMN_MAX,
        "bottom": COLUMN_MAX.copy_negate(),
    }


@pytest.mark.django_db
def test_exact_decimal_column_refuses_a_value_too_wide(member):
    meter = Meter.objects.get(key="compute.seconds")
    with pytest.raises(DataError), transaction.atomic():
        HourlyRollup.objects.create(
            user=member, meter=meter, bucket_start=timezone.now(), value=EXACT.add(COLUMN_MAX, 1)
        )
    assert not HourlyRollup.objects.exists()


@pytest.mark.django_db
def test_usage_event_column_refuses_a_negative_quantity(member):
    meter = Meter.objects.get(key="compute.seconds")
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEvent.objects.create(
            user=member, meter=meter, quantity=-MICRO, occurred_at=timezone.now()
        )


@pytest.mark.django_db
def test_usage_buckets_at_the_column_limit_are_added_and_read_exactly(member, ingest):
    """Today's buckets hold one micro-unit under the column's largest value, yesterday's
    daily bucket as much: a rolled event fills today's to the limit, and the 30-day total
    (wider than the column) is still exact."""
    meter = Meter.objects.get(key="compute.seconds")
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    below = EXACT.subtract(COLUMN_MAX, MICRO)
    both = EXACT.add(COLUMN_MAX, below)
    keys = {"user": member, "meter": meter, "slot_id": NO_SLOT}
    HourlyRollup.objects.create(**keys, bucket_start=hour, value=below, event_count=1)
    DailyRollup.objects.create(**keys, bucket_start=day, value=below, event_count=1)
    DailyRollup.objects.create(**keys, bucket_start=day - timedelta(days=1), value=below)

    ingest(member, {"meter": "compute.seconds", "quantity": MICRO})
    # Raw tail + buckets, then the same once rolled.
    for stage in ("tail", "rolled"):
        day_stats = usage_stats(user=member, period="30d", meter=meter)
        assert day_stats["totals"]["compute.seconds"] == both, stage
        points = [p["value"] for p in day_stats["series"] if p["value"]]
        assert points == [below, COLUMN_MAX] and EXACT.add(*points) == both, stage
        hour_stats = usage_stats(user=member, period="24h", meter=meter)
        assert hour_stats["totals"]["compute.seconds"] == COLUMN_MAX, stage
        rows = usage_export_rows(user=member, start=day, end=day + timedelta(days=1))
        assert [r["value"] for r in rows] == [COLUMN_MAX], stage
        if stage == "tail":
            assert usage_rollup().events == 1
    assert HourlyRollup.objects.get(bucket_start=hour).value == COLUMN_MAX
    assert DailyRollup.objects.get(bucket_start=day).value == COLUMN_MAX


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL: the migration runs no SQL")
@pytest.mark.django_db(transaction=True)
def test_usage_migration_0005_turns_sqlite_floats_into_exact_text_and_back(member):
    """What the float columns held is kept as Django read it (15 significant digits; an
    integer exactly); backwards, the values are floats again."""
    before = [("usage", "0004_partition_usage_events_by_month")]
    after = [("usage", "0005_exact_decimals_on_sqlite")]
    # A meter of its own: the seeded ones are gone after another transactional test's flush.
    meter_id = Meter.objects.create(
        key="migration.check", name="Migration check", unit="units", aggregation="sum"
    ).pk
    MigrationExecutor(connection).migrate(before)
    try:
        stored = ["12345678901.234567", "0.1", "1000000000000000", "999999999999999999", "0"]
        with connection.cursor() as cursor:
            for n, value in enumerate(stored):
                cursor.execute(
                    "INSERT INTO usage_hourlyrollup (value, slot_id, bucket_start, event_count, "
                    "updated_at, user_id, meter_id) VALUES (%s, %s, %s, 1, %s, %s, %s)",
                    [value, NO_SLOT.hex, f"2026-01-01 0{n}:00:00", "2026-01-01 00:00:00"]
                    + [member.pk.hex, meter_id],
                )
            cursor.execute('UPDATE usage_meter SET "limit" = %s WHERE id = %s', ["-2.5", meter_id])
        MigrationExecutor(connection).migrate(after)

        values = list(HourlyRollup.objects.order_by("bucket_start").values_list("value", flat=True))
        assert values == [
            Decimal("12345678901.234600"),  # the float had kept 15 significant digits
            Decimal("0.100000"),
            Decimal("1000000000000000.000000"),
            Decimal("999999999999999999.000000"),
            Decimal("0.000000"),
        ]
        assert Meter.objects.get(pk=meter_id).limit == Decimal("-2.5")
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT typeof(value) FROM usage_hourlyrollup")
            assert cursor.fetchall() == [("text",)]

        MigrationExecutor(connection).migrate(before)
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM usage_hourlyrollup ORDER BY bucket_start")
            assert [v for (v,) in cursor.fetchall()] == [
                12345678901.2346,
                0.1,
                1000000000000000,
                999999999999999999,
                0,
            ]
            cursor.execute('SELECT "limit" FROM usage_meter WHERE id = %s', [meter_id])
            assert cursor.fetchone() == (-2.5,)
    finally:
        MigrationExecutor(connection).migrate(after)


@pytest.mark.django_db
@pytest.mark.parametrize("rolled", [False, True], ids=["tail", "rolled"])
def test_usage_quota_compares_17_digit_usage_with_the_limit_to_the_micro_unit(
    member, ingest, rolled
):
    meter = Meter.objects.get(key="compute.seconds")
    quantity, used = Decimal("12345678901.234567"), Decimal("24691357802.469134")
    ingest(member, *[{"meter": meter.key, "quantity": quantity}] * 2)
    if rolled:
        usage_rollup()
    meter.limit = used  # reached exactly: not crossed
    meter.save(update_fields=["limit"])
    assert usage_quota_check(user=member) == []
    (quota,) = usage_quota(user=member)
    assert (quota["limit"], quota["used"], quota["remaining"]) == (used, used, 0)

    meter.limit = EXACT.subtract(used, MICRO)  # one micro-unit under the use
    meter.save(update_fields=["limit"])
    (crossing,) = usage_quota_check(user=member)
    crossing.refresh_from_db()
    assert (crossing.limit, crossing.used) == (EXACT.subtract(used, MICRO), used)
    (quota,) = usage_quota(user=member)
    assert (quota["used"], quota["remaining"], quota["exceeded"]) == (used, 0, True)
