# ruff: noqa: S608 - SQL text is built from table names and %s placeholders defined in this
# module; every value goes through query parameters.
"""Write side of usage: ingestion, rollups, retention, quota crossings.

Ingestion is idempotent per (user, idempotency key), forever: the database's partial
unique index decides in the inserting transaction, so concurrent retries store one row and
a rolled-back request never burns a key. When retention purges a keyed event, its key and
content move to ``RetiredIdempotencyKey`` in the same statement, and ingestion checks that
table after its insert (a second statement, so it sees a purge that committed meanwhile).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from audit.services import record
from config.errors import Conflict, Forbidden
from config.metrics import count_usage_ingested
from usage import selectors
from usage.models import (
    NO_SLOT,
    QUANTITY_DECIMAL_PLACES,
    QUANTITY_MAX,
    DailyRollup,
    HourlyRollup,
    Meter,
    MeterLimitOverride,
    QuotaCrossing,
    RetiredIdempotencyKey,
    UsageEvent,
)

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_FUTURE = timedelta(minutes=5)
MAX_METADATA_BYTES = 4096
MAX_KEY_LENGTH = 255
MAX_REPORTED_ERRORS = 200
EVENT_FIELDS = frozenset(
    {"meter", "quantity", "slot", "occurred_at", "idempotency_key", "metadata", "user"}
)
_QUANT = Decimal(1).scaleb(-QUANTITY_DECIMAL_PLACES)
# Room for any quantity at full precision (the default context rounds at 28 digits).
_EXACT = Context(prec=60)
SQLITE_SIGNIFICANT_DIGITS = 15

EVENTS = UsageEvent._meta.db_table
HOURLY = HourlyRollup._meta.db_table
DAILY = DailyRollup._meta.db_table
METERS = Meter._meta.db_table
RETIRED = RetiredIdempotencyKey._meta.db_table


def late_arrival_window() -> timedelta:
    return timedelta(days=settings.ROSTER["USAGE_LATE_ARRIVAL_DAYS"])


# --- validation ---------------------------------------------------------------------------


@dataclass(slots=True)
class ParsedEvent:
    index: int
    user_id: uuid.UUID
    meter: Meter
    quantity: Decimal
    slot_id: uuid.UUID | None
    occurred_at: datetime
    occurred_at_given: bool
    idempotency_key: str | None
    metadata: dict

    def same_content(self, meter_id, quantity, slot_id, occurred_at) -> bool:
        """What a replay must repeat: meter, quantity, slot, and occurred_at when given."""
        if meter_id != self.meter.id or Decimal(quantity) != self.quantity:
            return False
        if (uuid.UUID(str(slot_id)) if slot_id is not None else None) != self.slot_id:
            return False
        return not self.occurred_at_given or occurred_at == self.occurred_at


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    users: dict[uuid.UUID, set[int]] = field(default_factory=dict)


class _Errors:
    def __init__(self) -> None:
        self.by_attr: dict[str, list[ValidationError]] = {}
        self.count = 0

    def add(self, attr: str, code: str, message: str) -> None:
        self.count += 1
        if self.count <= MAX_REPORTED_ERRORS:
            self.by_attr.setdefault(attr, []).append(ValidationError(message, code=code))

    def raise_if_any(self) -> None:
        if self.by_attr:
            raise ValidationError(self.by_attr)


def _parse_quantity(value, meter: Meter | None, attr: str, errors: _Errors) -> Decimal | None:
    if value is None:
        if meter is not None and meter.aggregation == Meter.Aggregation.COUNT:
            return Decimal(1)
        errors.add(attr, "required", "A quantity is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        errors.add(attr, "invalid", "The quantity must be a JSON number.")
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.add(attr, "max_value", f"The quantity must be at most {QUANTITY_MAX:.0e}.")
            return None
        # repr() of a float is the shortest text that reads back the same: what was sent.
        value = Decimal(repr(value))
    number = Decimal(value)
    if number.is_nan():
        errors.add(attr, "invalid", "The quantity is not a valid number.")
        return None
    if number < 0:
        errors.add(attr, "min_value", "The quantity must be zero or more.")
        return None
    if number > QUANTITY_MAX:
        errors.add(attr, "max_value", f"The quantity must be at most {QUANTITY_MAX:.0e}.")
        return None
    exact = number.quantize(_QUANT, context=_EXACT)
    if exact != number:
        errors.add(
            attr,
            "max_decimal_places",
            f"The quantity may have at most {QUANTITY_DECIMAL_PLACES} fractional digits.",
        )
        return None
    if quantity_digits_exceed_storage(exact):
        errors.add(
            attr,
            "max_digits",
            f"This database keeps {SQLITE_SIGNIFICANT_DIGITS} significant digits of a "
            "fractional quantity; this one has more.",
        )
        return None
    return exact


def quantity_digits_exceed_storage(value: Decimal) -> bool:
    """Whether the quantity column would round ``value``.

    PostgreSQL's NUMERIC(38, 6) holds every valid quantity. Django keeps decimals on SQLite
    (the development default) as binary floats, exact to 15 significant digits; integers
    up to the maximum are stored as integers and stay exact.
    """
    if connection.vendor != "sqlite" or value == value.to_integral_value():
        return False
    return len(value.normalize().as_tuple().digits) > SQLITE_SIGNIFICANT_DIGITS


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


def _parse_occurred_at(
    value, now: datetime, oldest: datetime, attr: str, errors: _Errors
) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        errors.add(attr, "invalid", "Use an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00Z.")
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors.add(attr, "invalid", "Use an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00Z.")
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        errors.add(attr, "timezone_required", "The timestamp needs a time zone (Z or +hh:mm).")
        return None
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        errors.add(attr, "invalid", "The timestamp is out of range.")
        return None
    if moment > now + MAX_FUTURE:
        errors.add(attr, "too_far_in_future", "occurred_at may be at most 5 minutes ahead.")
        return None
    if moment < oldest:
        days = settings.ROSTER["USAGE_LATE_ARRIVAL_DAYS"]
        errors.add(attr, "too_old", f"occurred_at may be at most {days} days in the past.")
        return None
    return moment


def _parse_uuid(value, attr: str, errors: _Errors, what: str) -> uuid.UUID | None:
    if not isinstance(value, str) or len(value) > 64:
        errors.add(attr, "invalid", f"The {what} must be an id (UUID string).")
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        errors.add(attr, "invalid", f"The {what} must be an id (UUID string).")
        return None


def _is_admin(user) -> bool:
    return "admin" in user.roles


def _parse_events(
    raw_events: list, *, caller, attr_for: Callable[[int, str], str], now: datetime
) -> list[ParsedEvent]:
    errors = _Errors()
    # One query: the meters, and whether the caller has a limit override on each.
    meters = {
        m.key: m
        for m in Meter.objects.annotate(
            caller_override=Exists(
                MeterLimitOverride.objects.filter(meter=OuterRef("pk"), user_id=caller.pk)
            )
        )
    }
    caller_is_admin: bool | None = None
    oldest = now - late_arrival_window()
    parsed: list[ParsedEvent] = []
    slots_by_user: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    other_users: set[uuid.UUID] = set()

    for index, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            errors.add(attr_for(index, "non_field_errors"), "invalid", "Expected an event object.")
            continue
        errors_before = errors.count
        for name in raw.keys() - EVENT_FIELDS:
            errors.add(
                attr_for(index, str(name)[:100]), "unknown_field", "This field is not accepted."
            )

        user_id = caller.pk
        if raw.get("user") is not None:
            target = _parse_uuid(raw["user"], attr_for(index, "user"), errors, "user")
            if target is not None and target != caller.pk:
                if caller_is_admin is None:
                    caller_is_admin = _is_admin(caller)
                if not caller_is_admin:
                    raise Forbidden(
                        "permission_denied",
                        "Only admins may record usage for another user.",
                        attr=attr_for(index, "user"),
                    )
                other_users.add(target)
                user_id = target

        meter = None
        meter_key = raw.get("meter")
        if meter_key is None:
            errors.add(attr_for(index, "meter"), "required", "A meter key is required.")
        elif not isinstance(meter_key, str):
            errors.add(attr_for(index, "meter"), "invalid", "The meter must be a meter key.")
        else:
            meter = meters.get(meter_key)
            if meter is None:
                errors.add(
                    attr_for(index, "meter"),
                    "unknown_meter",
                    "No meter has this key (GET /meters).",
                )
            elif not meter.is_active:
                errors.add(attr_for(index, "meter"), "meter_inactive", "This meter is retired.")
                meter = None

        quantity = _parse_quantity(raw.get("quantity"), meter, attr_for(index, "quantity"), errors)

        slot_id = None
        if raw.get("slot") is not None:
            slot_id = _parse_uuid(raw["slot"], attr_for(index, "slot"), errors, "slot")
            if slot_id is not None:
                slots_by_user[user_id].add(slot_id)

        occurred_at, given = now, raw.get("occurred_at") is not None
        if given:
            occurred_at = _parse_occurred_at(
                raw["occurred_at"], now, oldest, attr_for(index, "occurred_at"), errors
            )

        key = raw.get("idempotency_key")
        if key is not None:
            if not isinstance(key, str):
                errors.add(attr_for(index, "idempotency_key"), "invalid", "Must be a string.")
            elif not key:
                errors.add(attr_for(index, "idempotency_key"), "blank", "Must not be empty.")
            elif len(key) > MAX_KEY_LENGTH:
                errors.add(
                    attr_for(index, "idempotency_key"),
                    "max_length",
                    f"At most {MAX_KEY_LENGTH} characters.",
                )

        metadata = raw.get("metadata")
        if metadata is None:
            metadata = {}
        elif not isinstance(metadata, dict):
            errors.add(attr_for(index, "metadata"), "invalid", "metadata must be a JSON object.")
        elif (metadata := _metadata_numbers_as_floats(metadata)) is None:
            errors.add(attr_for(index, "metadata"), "invalid", "A number in metadata is too large.")
        elif len(json.dumps(metadata, separators=(",", ":"))) > MAX_METADATA_BYTES:
            errors.add(
                attr_for(index, "metadata"),
                "max_length",
                f"metadata may hold at most {MAX_METADATA_BYTES} bytes of JSON.",
            )

        if errors.count != errors_before:
            continue
        parsed.append(
            ParsedEvent(
                index=index,
                user_id=user_id,
                meter=meter,
                quantity=quantity,
                slot_id=slot_id,
                occurred_at=occurred_at,
                occurred_at_given=given,
                idempotency_key=key,
                metadata=metadata,
            )
        )

    if other_users:
        from django.contrib.auth import get_user_model

        known = set(
            get_user_model().objects.filter(pk__in=other_users).values_list("pk", flat=True)
        )
        for event in parsed:
            if event.user_id != caller.pk and event.user_id not in known:
                errors.add(attr_for(event.index, "user"), "unknown_user", "No such user.")
    if slots_by_user:
        from slots.selectors import owned_slot_ids

        owned: dict[uuid.UUID, set] = {}
        for user_id, slot_ids in slots_by_user.items():
            owned[user_id] = owned_slot_ids(user=user_id, slot_ids=slot_ids)
        for event in parsed:
            if event.slot_id is not None and event.slot_id not in owned[event.user_id]:
                # A foreign slot reads like an unknown one: no existence leak.
                errors.add(
                    attr_for(event.index, "slot"), "unknown_slot", "You have no slot with this id."
                )
    errors.raise_if_any()
    return parsed


def _events_from_body(body) -> tuple[list, Callable[[int, str], str]]:
    """A single event or ``{"events": [...]}``; the attr of a field in either shape."""
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add(
            "non_field_errors",
            "invalid",
            'Send one event object or {"events": [...]} with up to 1000 events.',
        )
        errors.raise_if_any()
    if "events" not in body:
        return [body], lambda index, name: name
    for name in body.keys() - {"events"}:
        errors.add(str(name)[:100], "unknown_field", "This field is not accepted.")
    events = body["events"]
    if not isinstance(events, list):
        errors.add("events", "not_a_list", "events must be a list of event objects.")
    elif not events:
        errors.add("events", "empty", "events must hold at least one event.")
    elif len(events) > MAX_BATCH:
        errors.add("events", "max_length", f"A batch holds at most {MAX_BATCH} events.")
    errors.raise_if_any()
    return events, lambda index, name: f"events.{index}.{name}"


# --- ingestion ----------------------------------------------------------------------------


def _dedupe_in_batch(events: list[ParsedEvent]) -> tuple[list[ParsedEvent], int]:
    """Keep the first of each (user, key); later copies are duplicates or a conflict."""
    first: dict[tuple[uuid.UUID, str], ParsedEvent] = {}
    unique: list[ParsedEvent] = []
    duplicates = 0
    for event in events:
        if event.idempotency_key is None:
            unique.append(event)
            continue
        seen = first.get((event.user_id, event.idempotency_key))
        if seen is None:
            first[(event.user_id, event.idempotency_key)] = event
            unique.append(event)
            continue
        if not event.same_content(seen.meter.id, seen.quantity, seen.slot_id, seen.occurred_at):
            _raise_conflict(event)
        duplicates += 1
    return unique, duplicates


def _raise_conflict(event: ParsedEvent):
    raise Conflict(
        "idempotency_conflict",
        f"The idempotency key {event.idempotency_key!r} was already used for a different event.",
    )


def _insert_postgres(events: list[ParsedEvent], now: datetime) -> set[tuple[uuid.UUID, str]]:
    """One round trip for the batch; returns the (user, key) pairs actually inserted.

    The rows travel as one JSON parameter: encoding it is a single C call, where binding
    arrays of UUIDs, decimals and timestamps costs Python work per element.

    Rows go in sorted by (user, key), whatever order the request gave. An insert that meets
    another transaction's uncommitted entry for the same key waits for it; two batches
    taking the same keys in opposite orders would each wait for the other (a deadlock).
    In one global order, the later batch only ever waits for the earlier one.
    """
    sql = (
        "WITH rows AS (SELECT (r->>0)::uuid AS u, (r->>1)::bigint AS m, (r->>2)::uuid AS s, "
        "(r->>3)::numeric AS q, (r->>4)::timestamptz AS o, r->>5 AS k, (r->6)::jsonb AS md, n "
        "FROM json_array_elements(%s::json) WITH ORDINALITY AS t(r, n)), "
        f"ins AS (INSERT INTO {EVENTS} "
        "(user_id, meter_id, slot_id, quantity, occurred_at, received_at, idempotency_key, "
        "metadata) SELECT u, m, s, q, o, %s, k, md FROM rows ORDER BY u, k, n "
        "ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "
        "RETURNING user_id, idempotency_key) "
        "SELECT user_id, idempotency_key FROM ins WHERE idempotency_key IS NOT NULL"
    )
    user_ids = {u: str(u) for u in {e.user_id for e in events}}
    rows = json.dumps(
        [
            [
                user_ids[e.user_id],
                e.meter.id,
                str(e.slot_id) if e.slot_id is not None else None,
                str(e.quantity),
                e.occurred_at.isoformat(),
                e.idempotency_key,
                e.metadata,
            ]
            for e in events
        ],
        separators=(",", ":"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows, now])
        return {(u, k) for u, k in cursor.fetchall()}


def _stored_for_keys(model, pairs: set[tuple[uuid.UUID, str]]) -> dict:
    """(user, key) → (meter_id, quantity, slot_id, occurred_at) of what is stored."""
    if not pairs:
        return {}
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT t.user_id, t.idempotency_key, t.meter_id, t.quantity, t.slot_id, "
            f"t.occurred_at FROM {model._meta.db_table} t JOIN ("
            f"SELECT (c->>0)::uuid AS u, c->>1 AS k FROM json_array_elements(%s::json) AS c"
            f") AS c ON t.user_id = c.u AND t.idempotency_key = c.k "
            f"WHERE t.idempotency_key IS NOT NULL"
        )
        keys = json.dumps([[str(u), k] for u, k in pairs], separators=(",", ":"))
        with connection.cursor() as cursor:
            cursor.execute(sql, [keys])
            return {(u, k): (m, q, s, o) for u, k, m, q, s, o in cursor.fetchall()}
    by_user: dict[uuid.UUID, list[str]] = defaultdict(list)
    for user_id, key in pairs:
        by_user[user_id].append(key)
    out = {}
    for user_id, keys in by_user.items():
        for start in range(0, len(keys), 500):
            rows = model.objects.filter(
                user_id=user_id, idempotency_key__in=keys[start : start + 500]
            ).values_list("idempotency_key", "meter_id", "quantity", "slot_id", "occurred_at")
            for key, *content in rows:
                out[(user_id, key)] = tuple(content)
    return out


def _insert_generic(events: list[ParsedEvent], now: datetime) -> set[tuple[uuid.UUID, str]]:
    # SQLite serialises writers (BEGIN IMMEDIATE), so checking then inserting is safe here.
    keyed = {(e.user_id, e.idempotency_key) for e in events if e.idempotency_key is not None}
    existing = set(_stored_for_keys(UsageEvent, keyed))
    fresh = [e for e in events if (e.user_id, e.idempotency_key) not in existing]
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                user_id=e.user_id,
                meter_id=e.meter.id,
                slot_id=e.slot_id,
                quantity=e.quantity,
                occurred_at=e.occurred_at,
                received_at=now,
                idempotency_key=e.idempotency_key,
                metadata=e.metadata,
            )
            for e in fresh
        ]
    )
    return {(e.user_id, e.idempotency_key) for e in fresh if e.idempotency_key is not None}


# deadlock_detected, serialization_failure: the transaction lost a race and did nothing.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
INGEST_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.05


def _is_retryable(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def usage_events_ingest(
    *, caller, body: Any, actor=None, request=None, now: datetime | None = None
) -> IngestResult:
    """Validate (all or nothing) and store one event or a batch for ``caller``.

    Admins may file events for another user with ``user``. Raises ``ValidationError``
    (400, errors by ``events.<index>.<field>``), ``Forbidden`` (403) or ``Conflict``
    (409 ``idempotency_conflict``: nothing of the request is stored).
    """
    now = now or timezone.now()
    raw_events, attr_for = _events_from_body(body)
    parsed = _parse_events(raw_events, caller=caller, attr_for=attr_for, now=now)
    unique, duplicates = _dedupe_in_batch(parsed)

    # A deadlock or serialization failure rolls the whole attempt back (events, audit rows,
    # queued quota checks), so running it again cannot count anything twice. Inside a
    # caller's transaction the failure is the caller's to handle: it was aborted too.
    attempts = 1 if connection.in_atomic_block else INGEST_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            result = _store_events(
                unique, duplicates, caller=caller, actor=actor, request=request, now=now
            )
            break
        except OperationalError as exc:
            if attempt == attempts or not _is_retryable(exc):
                raise
            logger.warning(
                "usage ingest retried after %s (attempt %d of %d)",
                exc.__cause__.__class__.__name__,
                attempt,
                attempts,
            )
            # Give the transaction that won time to finish its statement, or the retry
            # takes entries that transaction still has to reach and loses again.
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
    count_usage_ingested(accepted=result.accepted, duplicates=result.duplicates)
    return result


def _store_events(
    unique: list[ParsedEvent], duplicates: int, *, caller, actor, request, now: datetime
) -> IngestResult:
    """One transaction: insert, settle keys already taken (or retired), audit, queue checks."""
    keyed = [e for e in unique if e.idempotency_key is not None]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            inserted = _insert_postgres(unique, now)
        else:
            inserted = _insert_generic(unique, now)
        lost = {(e.user_id, e.idempotency_key) for e in keyed} - inserted
        if lost:
            stored = _stored_for_keys(UsageEvent, lost)
            for event in keyed:
                pair = (event.user_id, event.idempotency_key)
                if pair in lost and not event.same_content(*stored[pair]):
                    _raise_conflict(event)
        retired = _stored_for_keys(RetiredIdempotencyKey, inserted)
        if retired:
            for event in keyed:
                pair = (event.user_id, event.idempotency_key)
                if pair in retired and not event.same_content(*retired[pair]):
                    _raise_conflict(event)
            for user_id, key in retired:
                UsageEvent.objects.filter(user_id=user_id, idempotency_key=key).delete()
        result = IngestResult(
            accepted=len(unique) - len(lost) - len(retired),
            duplicates=duplicates + len(lost) + len(retired),
        )
        for event in unique:
            result.users.setdefault(event.user_id, set()).add(event.meter.id)
        for user_id in sorted((u for u in result.users if u != caller.pk), key=str):
            # Usage filed on someone else's behalf is an admin act worth a trace.
            record(
                action="usage.events.recorded",
                actor=actor or caller,
                target=("user", str(user_id)),
                request=request,
                metadata={"events": sum(1 for e in unique if e.user_id == user_id)},
            )
        if result.accepted:
            _queue_quota_checks(result.users, caller_id=caller.pk, events=unique)
    return result


def _limited_meter_ids(user_ids) -> dict[uuid.UUID, set[int]]:
    """Per user, the meters that may limit them (a default limit or an override)."""
    defaults = set(Meter.objects.filter(limit__isnull=False).values_list("id", flat=True))
    out: dict[uuid.UUID, set[int]] = {u: set(defaults) for u in user_ids}
    for user_id, meter_id in MeterLimitOverride.objects.filter(
        user_id__in=list(user_ids)
    ).values_list("user_id", "meter_id"):
        out[user_id].add(meter_id)
    return out


def _queue_quota_checks(
    touched: dict[uuid.UUID, set[int]], *, caller_id, events: list[ParsedEvent]
) -> None:
    # The caller's limits came with the meters; only events filed for others need a query.
    caller_limited = {
        e.meter.id for e in events if e.meter.limit is not None or e.meter.caller_override
    }
    others = [u for u in touched if u != caller_id]
    limited = _limited_meter_ids(others) if others else {}
    limited[caller_id] = caller_limited
    for user_id, meter_ids in touched.items():
        wanted = sorted(meter_ids & limited.get(user_id, set()))
        if wanted:
            from usage.tasks import check_quota

            # After commit, so the check sees this request's events and every earlier one.
            transaction.on_commit(
                lambda u=str(user_id), m=wanted: check_quota.delay(u, m), robust=True
            )


# --- quota --------------------------------------------------------------------------------


def usage_quota_check(*, user, meter_ids=None, now: datetime | None = None) -> list[QuotaCrossing]:
    """Raise the over-limit flag (and audit it) once per user, meter and window."""
    from django.contrib.auth import get_user_model

    if not hasattr(user, "pk"):
        user = get_user_model().objects.filter(pk=user).first()
        if user is None:  # erased since the check was queued
            return []
    now = now or timezone.now()
    limits = selectors.effective_limits(user=user, meter_ids=meter_ids)
    windows: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for meter_id, (meter, _) in limits.items():
        windows[selectors.quota_window(meter.limit_window, now=now)].append(meter_id)
    crossings = []
    for (start, end), ids in windows.items():
        used = selectors.usage_in_range(user=user, meter_ids=ids, start=start, end=end)
        for meter_id in ids:
            meter, limit = limits[meter_id]
            if used[meter_id] <= limit:
                continue
            if QuotaCrossing.objects.filter(user=user, meter=meter, window_start=start).exists():
                continue
            try:
                with transaction.atomic():
                    crossing = QuotaCrossing.objects.create(
                        user=user,
                        meter=meter,
                        window_start=start,
                        window_end=end,
                        limit=limit,
                        used=used[meter_id],
                        crossed_at=now,
                    )
                    record(
                        action="usage.quota.exceeded",
                        actor=None,
                        target=user,
                        metadata={
                            "meter": meter.key,
                            "limit": str(limit),
                            "used": str(used[meter_id]),
                            "window": meter.limit_window,
                            "window_start": start.isoformat(),
                            "window_end": end.isoformat(),
                        },
                    )
            except IntegrityError:
                continue  # another checker recorded this window first
            crossings.append(crossing)
    return crossings


# --- rollups ------------------------------------------------------------------------------


@dataclass
class RollupResult:
    events: int = 0
    batches: int = 0
    touched: dict[str, set[int]] = field(default_factory=dict)


_ROLLUP_PG = f"""
WITH claimed AS (
    SELECT id FROM {EVENTS} WHERE rolled_at IS NULL ORDER BY user_id, occurred_at
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE {EVENTS} e SET rolled_at = %(now)s FROM claimed c WHERE e.id = c.id
    RETURNING e.user_id, e.meter_id, COALESCE(e.slot_id, %(no_slot)s) AS slot_id,
              e.occurred_at, e.quantity
), hourly AS (
    SELECT mk.user_id, mk.meter_id, mk.slot_id,
           date_trunc('hour', mk.occurred_at) AS bucket_start, mt.aggregation AS agg,
           CASE mt.aggregation WHEN 'count' THEN count(*)::numeric
                               WHEN 'max' THEN max(mk.quantity)
                               ELSE sum(mk.quantity) END AS value,
           count(*) AS n
    FROM marked mk JOIN {METERS} mt ON mt.id = mk.meter_id
    GROUP BY 1, 2, 3, 4, 5
), up_hourly AS (
    INSERT INTO {HOURLY} AS r
        (user_id, meter_id, slot_id, bucket_start, value, event_count, updated_at)
    SELECT user_id, meter_id, slot_id, bucket_start, value, n, %(now)s FROM hourly
    ORDER BY user_id, bucket_start, meter_id, slot_id
    ON CONFLICT (user_id, bucket_start, meter_id, slot_id) DO UPDATE SET
        value = CASE WHEN EXISTS (SELECT 1 FROM {METERS} WHERE id = EXCLUDED.meter_id
                                  AND aggregation = 'max')
                     THEN GREATEST(r.value, EXCLUDED.value) ELSE r.value + EXCLUDED.value END,
        event_count = r.event_count + EXCLUDED.event_count,
        updated_at = EXCLUDED.updated_at
    RETURNING 1
), daily AS (
    SELECT user_id, meter_id, slot_id, date_trunc('day', bucket_start) AS bucket_start,
           CASE agg WHEN 'max' THEN max(value) ELSE sum(value) END AS value, sum(n) AS n
    FROM hourly GROUP BY 1, 2, 3, 4, agg
), up_daily AS (
    INSERT INTO {DAILY} AS r
        (user_id, meter_id, slot_id, bucket_start, value, event_count, updated_at)
    SELECT user_id, meter_id, slot_id, bucket_start, value, n, %(now)s FROM daily
    ORDER BY user_id, bucket_start, meter_id, slot_id
    ON CONFLICT (user_id, bucket_start, meter_id, slot_id) DO UPDATE SET
        value = CASE WHEN EXISTS (SELECT 1 FROM {METERS} WHERE id = EXCLUDED.meter_id
                                  AND aggregation = 'max')
                     THEN GREATEST(r.value, EXCLUDED.value) ELSE r.value + EXCLUDED.value END,
        event_count = r.event_count + EXCLUDED.event_count,
        updated_at = EXCLUDED.updated_at
    RETURNING 1
)
SELECT user_id, meter_id, count(*) FROM marked GROUP BY 1, 2
"""


def _rollup_batch_postgres(limit: int, now: datetime) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_ROLLUP_PG, {"limit": limit, "now": now, "no_slot": NO_SLOT})
        return cursor.fetchall()


def _combine(aggregation: str, old: Decimal, new: Decimal) -> Decimal:
    return max(old, new) if aggregation == Meter.Aggregation.MAX else old + new


def _rollup_batch_generic(limit: int, now: datetime) -> list[tuple]:
    # Without SKIP LOCKED: SQLite takes the write lock at BEGIN, so workers take turns.
    with transaction.atomic():
        rows = list(
            UsageEvent.objects.filter(rolled_at__isnull=True)
            .order_by("id")
            .values_list("id", "user_id", "meter_id", "slot_id", "occurred_at", "quantity")[:limit]
        )
        if not rows:
            return []
        aggregations = dict(Meter.objects.values_list("id", "aggregation"))
        hourly: dict[tuple, list] = {}
        touched: dict[tuple, int] = defaultdict(int)
        for _id, user_id, meter_id, slot_id, occurred_at, quantity in rows:
            touched[(user_id, meter_id)] += 1
            agg = aggregations[meter_id]
            amount = Decimal(1) if agg == Meter.Aggregation.COUNT else quantity
            bucket = occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            key = (user_id, meter_id, slot_id or NO_SLOT, bucket)
            acc = hourly.setdefault(key, [None, 0])
            acc[0] = amount if acc[0] is None else _combine(agg, acc[0], amount)
            acc[1] += 1
        daily: dict[tuple, list] = {}
        for (user_id, meter_id, slot_id, bucket), (value, count) in hourly.items():
            key = (user_id, meter_id, slot_id, bucket.replace(hour=0))
            acc = daily.setdefault(key, [None, 0])
            agg = aggregations[meter_id]
            acc[0] = value if acc[0] is None else _combine(agg, acc[0], value)
            acc[1] += count
        for model, buckets in ((HourlyRollup, hourly), (DailyRollup, daily)):
            for (user_id, meter_id, slot_id, bucket), (value, count) in sorted(
                buckets.items(), key=lambda item: (str(item[0][0]), item[0][3], item[0][1])
            ):
                row, created = model.objects.get_or_create(
                    user_id=user_id,
                    meter_id=meter_id,
                    slot_id=slot_id,
                    bucket_start=bucket,
                    defaults={"value": value, "event_count": count, "updated_at": now},
                )
                if not created:
                    row.value = _combine(aggregations[meter_id], row.value, value)
                    row.event_count += count
                    row.updated_at = now
                    row.save(update_fields=["value", "event_count", "updated_at"])
        UsageEvent.objects.filter(id__in=[r[0] for r in rows]).update(rolled_at=now)
        return [(u, m, n) for (u, m), n in touched.items()]


def usage_rollup(
    *, batch_size: int = 5000, max_batches: int | None = 200, now: datetime | None = None
) -> RollupResult:
    """Roll un-rolled events into hourly and daily buckets, a batch per transaction.

    Safe with several workers: each claims events with ``FOR UPDATE SKIP LOCKED`` and marks
    them in the transaction that adds them to the buckets; events whose transactions commit
    late are simply un-rolled until a later run. Late events add to their old buckets.
    """
    result = RollupResult()
    batch = _rollup_batch_postgres if connection.vendor == "postgresql" else _rollup_batch_generic
    while max_batches is None or result.batches < max_batches:
        for attempt in range(3):
            try:
                rows = batch(batch_size, now or timezone.now())
                break
            except OperationalError as exc:  # deadlock or serialization hiccup: try again
                if attempt == 2:
                    raise
                logger.warning("usage rollup batch retried: %s", exc.__class__.__name__)
        if not rows:
            break
        result.batches += 1
        for user_id, meter_id, count in rows:
            result.events += int(count)
            result.touched.setdefault(str(user_id), set()).add(meter_id)
        if sum(int(r[2]) for r in rows) < batch_size:
            break
    return result


def usage_rollup_and_check_quotas(*, batch_size: int = 5000, max_batches: int | None = 200) -> int:
    """The periodic job: roll up, then re-check quotas of users whose usage just rolled."""
    result = usage_rollup(batch_size=batch_size, max_batches=max_batches)
    # In the shared cache, so the admin dashboard sees runs of any worker on any machine.
    cache.set(
        selectors.ROLLUP_LAST_RUN_KEY,
        {"at": timezone.now().isoformat(), "events": result.events},
        timeout=None,
    )
    if result.touched:
        touched = {uuid.UUID(u): ids for u, ids in result.touched.items()}
        limited = _limited_meter_ids(touched)
        for user_id, meter_ids in touched.items():
            wanted = meter_ids & limited.get(user_id, set())
            if wanted:
                try:
                    usage_quota_check(user=user_id, meter_ids=wanted)
                except Exception:  # one user's check must not stop the others
                    logger.exception("quota check failed for %s", user_id)
    return result.events


# --- retention ----------------------------------------------------------------------------

_PURGE_PG = f"""
WITH doomed AS (
    SELECT id FROM {EVENTS} WHERE occurred_at < %(cutoff)s AND rolled_at IS NOT NULL
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM {EVENTS} e USING doomed d WHERE e.id = d.id
    RETURNING e.user_id, e.idempotency_key, e.meter_id, e.quantity, e.slot_id, e.occurred_at
), kept AS (
    INSERT INTO {RETIRED}
        (user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, retired_at)
    SELECT user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, %(now)s
    FROM gone WHERE idempotency_key IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM kept)
"""


def usage_events_purge(*, now: datetime | None = None, batch_size: int = 10_000) -> int:
    """Delete raw events older than the retention setting, but only rolled ones.

    Their buckets keep the totals; keyed events leave their key behind, so a replay
    after the purge is still a duplicate.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ROSTER["USAGE_RETENTION_DAYS"])
    deleted = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(_PURGE_PG, {"cutoff": cutoff, "limit": batch_size, "now": now})
                    count = int(cursor.fetchone()[0])
            else:
                doomed = list(
                    UsageEvent.objects.filter(occurred_at__lt=cutoff, rolled_at__isnull=False)
                    .order_by("id")
                    .values_list(
                        "id",
                        "user_id",
                        "idempotency_key",
                        "meter_id",
                        "quantity",
                        "slot_id",
                        "occurred_at",
                    )[:batch_size]
                )
                RetiredIdempotencyKey.objects.bulk_create(
                    [
                        RetiredIdempotencyKey(
                            user_id=u,
                            idempotency_key=k,
                            meter_id=m,
                            quantity=q,
                            slot_id=s,
                            occurred_at=o,
                            retired_at=now,
                        )
                        for _id, u, k, m, q, s, o in doomed
                        if k is not None
                    ],
                    ignore_conflicts=True,
                )
                count = UsageEvent.objects.filter(id__in=[d[0] for d in doomed]).delete()[0]
        deleted += count
        if count < batch_size:
            return deleted
