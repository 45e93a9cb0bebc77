"""The fields of the usage event contract, each with its compiled ``check``.

A field is the DRF field that gives its JSON type (for the schema) with ``EventField``
mixed in: ``codes`` are its error messages, exactly the codes ``check`` raises, and
``limits()`` the validators the schema and the code list are read from.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db.models import Exists, OuterRef
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.errors import Forbidden
from slots.selectors import owned_slot_ids
from usage.models import (
    QUANTITY_DECIMAL_PLACES,
    QUANTITY_FIELD_KW,
    QUANTITY_MAX,
    Meter,
    MeterLimitOverride,
)

if TYPE_CHECKING:  # usage.contract.validation imports this module
    from usage.contract.validation import ParsedEvent

MAX_BATCH = 1000
MAX_FUTURE = timedelta(minutes=5)
MAX_METADATA_BYTES = 4096
MAX_KEY_LENGTH = 255
MAX_REPORTED_ERRORS = 200
_QUANT = Decimal(1).scaleb(-QUANTITY_DECIMAL_PLACES)
# Room for any quantity at full precision (the default context rounds at 28 digits).
_EXACT = Context(prec=60)


def late_arrival_window() -> timedelta:
    return timedelta(days=settings.ROSTER["USAGE_LATE_ARRIVAL_DAYS"])


# --- what every event of one request is checked against ----------------------------------


class Batch:
    """The request's context: caller, clock, meters, and what the cross-event checks need."""

    def __init__(self, *, caller, now: datetime, attr_for: Callable[[int, str], str]) -> None:
        self.caller = caller
        self.now = now
        self.oldest = now - late_arrival_window()
        self.attr_for = attr_for
        self.index = 0
        # One query: the meters, and whether the caller has a limit override on each.
        self.meters = {
            m.key: m
            for m in Meter.objects.annotate(
                caller_override=Exists(
                    MeterLimitOverride.objects.filter(meter=OuterRef("pk"), user_id=caller.pk)
                )
            )
        }
        self.slots_by_user: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        self.other_users: set[uuid.UUID] = set()
        self._caller_is_admin: bool | None = None

    def caller_is_admin(self) -> bool:
        if self._caller_is_admin is None:
            self._caller_is_admin = "admin" in self.caller.roles
        return self._caller_is_admin


class Refused(Exception):
    """A field's value is refused with one of the field's codes."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


# --- the fields ---------------------------------------------------------------------------


class EventField:
    """A field of the event contract (mixed into the DRF field that gives its JSON type).

    ``codes`` maps each code ``check`` raises to its message; they replace the DRF field's
    own ``error_messages``. ``limits()`` are the validators the schema and the code list are
    read from; ``check`` enforces the same limits itself, without running them.
    """

    codes: dict[str, str] = {}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.error_messages = dict(self.codes)
        self.validators = self.limits()

    def limits(self) -> list:
        return []

    def refuse(self, code: str, message: str | None = None, **params) -> NoReturn:
        text = message or self.error_messages[code]
        raise Refused(code, text.format(**params) if params else text)

    def check(self, value: Any, batch: Batch, event: dict[str, Any]) -> Any:
        """The value to store, from the JSON value (None when absent or null)."""
        raise NotImplementedError

    def check_batch(self, events: list[ParsedEvent], batch: Batch) -> list[tuple[int, str]]:
        """(index, code) of events refused by a check across the batch (one query)."""
        return []


def _parse_uuid(field: EventField, value: Any) -> uuid.UUID:
    if not isinstance(value, str) or len(value) > 64:
        field.refuse("invalid")
    try:
        return uuid.UUID(value)
    except ValueError:
        field.refuse("invalid")


class UserField(EventField, serializers.UUIDField):
    codes = {
        "invalid": "The user must be an id (UUID string).",
        "unknown_user": "No such user.",
    }

    def check(self, value, batch, event):
        caller_id = batch.caller.pk
        if value is None:
            return caller_id
        target = _parse_uuid(self, value)
        if target != caller_id:
            if not batch.caller_is_admin():
                raise Forbidden(
                    "permission_denied",
                    "Only admins may record usage for another user.",
                    attr=batch.attr_for(batch.index, "user"),
                )
            batch.other_users.add(target)
        return target

    def check_batch(self, events, batch):
        if not batch.other_users:
            return []
        known = set(
            get_user_model().objects.filter(pk__in=batch.other_users).values_list("pk", flat=True)
        )
        caller_id = batch.caller.pk
        return [
            (e.index, "unknown_user")
            for e in events
            if e.user_id != caller_id and e.user_id not in known
        ]


class MeterField(EventField, serializers.CharField):
    codes = {
        "required": "A meter key is required.",
        "invalid": "The meter must be a meter key.",
        "unknown_meter": "No meter has this key (GET /meters).",
        "meter_inactive": "This meter is retired.",
    }

    def check(self, value, batch, event):
        if value is None:
            self.refuse("required")
        if not isinstance(value, str):
            self.refuse("invalid")
        meter = batch.meters.get(value)
        if meter is None:
            self.refuse("unknown_meter")
        if not meter.is_active:
            self.refuse("meter_inactive")
        return meter


@extend_schema_field({"type": "number"})
class QuantityField(EventField, serializers.Field):
    codes = {
        "required": "A quantity is required.",
        "invalid": "The quantity must be a JSON number.",
        "min_value": "The quantity must be zero or more.",
        "max_value": f"The quantity must be at most {QUANTITY_MAX:.0e}.",
        "max_decimal_places": (
            f"The quantity may have at most {QUANTITY_DECIMAL_PLACES} fractional digits."
        ),
    }
    not_a_number = "The quantity is not a valid number."
    # The column's precision (drf-standardized-errors lists max_digits and
    # max_decimal_places from these); every valid quantity fits it on every database.
    max_digits = QUANTITY_FIELD_KW["max_digits"]
    decimal_places = QUANTITY_DECIMAL_PLACES
    min_value = Decimal(0)
    max_value = QUANTITY_MAX

    def limits(self):
        return [MinValueValidator(self.min_value), MaxValueValidator(self.max_value)]

    def check(self, value, batch, event):
        if value is None:
            meter = event.get("meter")
            if meter is not None and meter.aggregation == Meter.Aggregation.COUNT:
                return Decimal(1)
            self.refuse("required")
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            self.refuse("invalid")
        if isinstance(value, float):
            if not math.isfinite(value):
                self.refuse("max_value")
            # repr() of a float is the shortest text that reads back the same: what was sent.
            value = Decimal(repr(value))
        number = Decimal(value)
        if number.is_nan():
            self.refuse("invalid", self.not_a_number)
        if number < self.min_value:
            self.refuse("min_value")
        if number > self.max_value:
            self.refuse("max_value")
        exact = number.quantize(_QUANT, context=_EXACT)
        if exact != number:
            self.refuse("max_decimal_places")
        return exact


class SlotField(EventField, serializers.UUIDField):
    codes = {
        "invalid": "The slot must be an id (UUID string).",
        "unknown_slot": "You have no slot with this id.",
    }

    def check(self, value, batch, event):
        if value is None:
            return None
        slot_id = _parse_uuid(self, value)
        batch.slots_by_user[event.get("user") or batch.caller.pk].add(slot_id)
        return slot_id

    def check_batch(self, events, batch):
        if not batch.slots_by_user:
            return []
        owned = {
            user_id: owned_slot_ids(user=user_id, slot_ids=slot_ids)
            for user_id, slot_ids in batch.slots_by_user.items()
        }
        # A foreign slot reads like an unknown one: no existence leak.
        return [
            (e.index, "unknown_slot")
            for e in events
            if e.slot_id is not None and e.slot_id not in owned[e.user_id]
        ]


@extend_schema_field(OpenApiTypes.DATETIME)
class OccurredAtField(EventField, serializers.Field):
    codes = {
        "invalid": "Use an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00Z.",
        "timezone_required": "The timestamp needs a time zone (Z or +hh:mm).",
        "too_far_in_future": "occurred_at may be at most 5 minutes ahead.",
        "too_old": "occurred_at may be at most {days} days in the past.",
    }
    out_of_range = "The timestamp is out of range."

    def check(self, value, batch, event):
        if value is None:
            return batch.now
        if not isinstance(value, str) or len(value) > 64:
            self.refuse("invalid")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.refuse("invalid")
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.refuse("timezone_required")
        try:
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            self.refuse("invalid", self.out_of_range)
        if moment > batch.now + MAX_FUTURE:
            self.refuse("too_far_in_future")
        if moment < batch.oldest:
            self.refuse("too_old", days=settings.ROSTER["USAGE_LATE_ARRIVAL_DAYS"])
        return moment


class IdempotencyKeyField(EventField, serializers.CharField):
    codes = {
        "invalid": "Must be a string.",
        "blank": "Must not be empty.",
        "max_length": f"At most {MAX_KEY_LENGTH} characters.",
    }

    def limits(self):
        return [MaxLengthValidator(self.max_length)]

    def check(self, value, batch, event):
        if value is None:
            return None
        if not isinstance(value, str):
            self.refuse("invalid")
        if not value:
            self.refuse("blank")
        if len(value) > self.max_length:
            self.refuse("max_length")
        return value


def _metadata_numbers_as_floats(value):
    """Metadata is free-form and stored as JSON: its numbers are kept as floats, as they
    always were (only quantities are exact decimals). None if a number has no float."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = _metadata_numbers_as_floats(item)
            if out[key] is None and item is not None:
                return None
        return out
    if isinstance(value, list):
        items = [_metadata_numbers_as_floats(item) for item in value]
        if any(new is None and old is not None for new, old in zip(items, value, strict=True)):
            return None
        return items
    if isinstance(value, Decimal | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


class MetadataField(EventField, serializers.DictField):
    codes = {
        "invalid": "metadata must be a JSON object.",
        "max_length": f"metadata may hold at most {MAX_METADATA_BYTES} bytes of JSON.",
    }
    number_too_large = "A number in metadata is too large."

    def check(self, value, batch, event):
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.refuse("invalid")
        metadata = _metadata_numbers_as_floats(value)
        if metadata is None:
            self.refuse("invalid", self.number_too_large)
        if len(json.dumps(metadata, separators=(",", ":"))) > MAX_METADATA_BYTES:
            self.refuse("max_length")
        return metadata
