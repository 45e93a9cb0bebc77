"""Usage metering: meters (admin data), raw events, hourly and daily rollups, quota state.

Invariant: an accepted event is counted exactly once in every stat. An event is either
un-rolled (``rolled_at`` is null: stats read it raw) or rolled (its quantity is inside
exactly one hourly and one daily bucket). The rollup marks events and updates buckets in
one transaction, so the two states never overlap or leave a gap.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from usage.fields import ExactDecimalField

# Rollup rows need a non-null slot to be unique per (user, meter, slot, bucket) on every
# database; events without a slot are filed under this nil UUID and reported as null.
NO_SLOT = uuid.UUID(int=0)

# Quantities are exact decimals with six fractional digits (micro-units), bounded so that
# a bucket can hold ~10^16 maximal events without overflowing NUMERIC(38, 6). Every decimal
# column keeps all its digits on SQLite too (``ExactDecimalField``: canonical text there).
QUANTITY_DECIMAL_PLACES = 6
QUANTITY_MAX = Decimal(10) ** 15
QUANTITY_FIELD_KW = {"max_digits": 38, "decimal_places": QUANTITY_DECIMAL_PLACES}

meter_key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
    "Lower-case words of letters, digits and underscores, separated by dots.",
    code="invalid_key",
)


class Meter(models.Model):
    """Something that is measured, e.g. ``tokens.input``. Admin-managed data."""

    class Aggregation(models.TextChoices):
        SUM = "sum"
        COUNT = "count"
        MAX = "max"

    class Window(models.TextChoices):
        DAY = "day"
        MONTH = "month"

    key = models.CharField(max_length=64, unique=True, validators=[meter_key_validator])
    name = models.CharField(max_length=100)
    unit = models.CharField(max_length=32, blank=True, default="")
    description = models.TextField(blank=True, default="")
    aggregation = models.CharField(
        max_length=8,
        choices=Aggregation.choices,
        default=Aggregation.SUM,
        help_text="sum adds quantities, count counts events, max keeps the largest quantity.",
    )
    limit = ExactDecimalField(
        **QUANTITY_FIELD_KW,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(Decimal(10) ** 30)],
        help_text="Default per-user limit per window; empty means unlimited.",
    )
    limit_window = models.CharField(
        max_length=8, choices=Window.choices, default=Window.MONTH, help_text="UTC calendar window."
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive meters refuse new events; their history stays."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class MeterLimitOverride(models.Model):
    """A per-user limit that replaces the meter's default (empty limit: unlimited)."""

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meter_limit_overrides"
    )
    limit = ExactDecimalField(
        **QUANTITY_FIELD_KW,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(Decimal(10) ** 30)],
        help_text="Empty means unlimited for this user.",
    )
    note = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "user"], name="meterlimitoverride_unique")
        ]

    def __str__(self) -> str:
        return f"{self.meter_id}:{self.user_id}"


class UsageEvent(models.Model):
    """One accepted measurement. Written by ingestion, marked by the rollup, then purged
    (on PostgreSQL, a whole month's partition at a time once it is all past retention)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+", db_index=False)
    # Slots are linked by id only: usage outlives slots and the usage app stays decoupled.
    slot_id = models.UUIDField(null=True, blank=True)
    quantity = ExactDecimalField(**QUANTITY_FIELD_KW)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    rolled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # On PostgreSQL the table is partitioned by month of ``occurred_at`` (migration 0004,
        # ``usage.sql.postgresql.ensure_partitions``); its primary key is (id, occurred_at)
        # there. A unique index of a partitioned table must hold the partition key, so the
        # idempotency guarantee lives in ``IdempotencyKey``, not here.
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="usageevent_quantity_nonneg"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "occurred_at"], name="usageevent_user_time"),
            # The un-rolled tail stays small, so this partial index stays small too. It serves
            # the tail of every stat and the rollup's claims (one index less per insert).
            models.Index(
                fields=["user", "occurred_at"],
                condition=models.Q(rolled_at__isnull=True),
                name="usageevent_unrolled_user_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.quantity} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class RollupBase(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+", db_index=False)
    slot_id = models.UUIDField(default=NO_SLOT)
    bucket_start = models.DateTimeField()
    # sum meters: sum of quantities; count meters: number of events; max meters: largest.
    value = ExactDecimalField(**QUANTITY_FIELD_KW)
    event_count = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.meter_id} {self.bucket_start:%Y-%m-%d %H:%M} = {self.value}"


class HourlyRollup(RollupBase):
    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "bucket_start", "meter", "slot_id"], name="hourlyrollup_key"
            )
        ]
        indexes = [models.Index(fields=["bucket_start"], name="hourlyrollup_time")]


class DailyRollup(RollupBase):
    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "bucket_start", "meter", "slot_id"], name="dailyrollup_key"
            )
        ]
        indexes = [models.Index(fields=["bucket_start"], name="dailyrollup_time")]


class QuotaCrossing(models.Model):
    """The flag raised once per (user, meter, window) when usage goes over the limit."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota_crossings"
    )
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    limit = ExactDecimalField(**QUANTITY_FIELD_KW)
    used = ExactDecimalField(**QUANTITY_FIELD_KW)
    crossed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-crossed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "meter", "window_start"], name="quotacrossing_once_per_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} over {self.meter_id} since {self.window_start:%Y-%m-%d}"


class IdempotencyKey(models.Model):
    """Every (user, idempotency key) ever accepted, with what the event said: the guarantee.

    Ingestion inserts the key and its event in one transaction; the unique constraint decides
    between concurrent retries. Keys stay when retention purges or drops raw events (a replay
    after the purge is still a duplicate); they go only with their user.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    idempotency_key = models.CharField(max_length=255)
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    quantity = ExactDecimalField(**QUANTITY_FIELD_KW)
    slot_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"], name="idempotencykey_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.idempotency_key}"
