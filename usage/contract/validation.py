"""Validation of a request by the contract's fields, all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError

from usage.contract.fields import MAX_REPORTED_ERRORS, Batch, EventField, Refused
from usage.contract.serializers import UsageEventBatchInSerializer
from usage.models import Meter


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


@dataclass(frozen=True)
class _Contract:
    fields: tuple[tuple[str, EventField], ...]
    names: frozenset[str]
    body_messages: dict[str, str]
    list_messages: dict[str, str]
    event_messages: dict[str, str]
    max_batch: int


@cache
def _contract() -> _Contract:
    """The declared fields, bound once per process (DRF copies them per serializer)."""
    batch = UsageEventBatchInSerializer()
    events = batch.fields["events"]
    fields = tuple(events.child.fields.items())
    return _Contract(
        fields=fields,
        names=frozenset(name for name, _ in fields),
        body_messages=batch.error_messages,
        list_messages=events.error_messages,
        event_messages=events.child.error_messages,
        max_batch=events.max_length,
    )


def _event_list(body: Any, contract: _Contract) -> tuple[list, Callable[[int, str], str]]:
    """A single event or ``{"events": [...]}``; the attr of a field in either shape."""
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add("non_field_errors", "invalid", contract.body_messages["invalid"])
        errors.raise_if_any()
    if "events" not in body:
        return [body], lambda index, name: name
    for name in body.keys() - {"events"}:
        errors.add(str(name)[:100], "unknown_field", contract.body_messages["unknown_field"])
    events = body["events"]
    messages = contract.list_messages
    if not isinstance(events, list):
        errors.add("events", "not_a_list", messages["not_a_list"])
    elif not events:
        errors.add("events", "empty", messages["empty"])
    elif len(events) > contract.max_batch:
        errors.add(
            "events", "max_length", messages["max_length"].format(max_length=contract.max_batch)
        )
    errors.raise_if_any()
    return events, lambda index, name: f"events.{index}.{name}"


def _parse_event(raw: Any, batch: Batch, contract: _Contract, errors: _Errors):
    """The event checked field by field, or None when it has errors (added to ``errors``)."""
    attr_for, index, messages = batch.attr_for, batch.index, contract.event_messages
    if not isinstance(raw, dict):
        errors.add(attr_for(index, "non_field_errors"), "invalid", messages["invalid"])
        return None
    errors_before = errors.count
    for name in raw.keys() - contract.names:
        errors.add(attr_for(index, str(name)[:100]), "unknown_field", messages["unknown_field"])
    values: dict[str, Any] = {}
    for name, field in contract.fields:
        try:
            values[name] = field.check(raw.get(name), batch, values)
        except Refused as refused:
            errors.add(attr_for(index, name), refused.code, refused.message)
            values[name] = None
    if errors.count != errors_before:
        return None
    return ParsedEvent(
        index=index,
        user_id=values["user"],
        meter=values["meter"],
        quantity=values["quantity"],
        slot_id=values["slot"],
        occurred_at=values["occurred_at"],
        occurred_at_given=raw.get("occurred_at") is not None,
        idempotency_key=values["idempotency_key"],
        metadata=values["metadata"],
    )


def parse_events(body: Any, *, caller, now: datetime) -> list[ParsedEvent]:
    """Validate one event or ``{"events": [...]}`` for ``caller``, all or nothing.

    Raises ``ValidationError`` (every error by ``events.<index>.<field>``, or by field for a
    single event) or ``Forbidden`` (``user`` set by someone who is not an admin).
    """
    contract = _contract()
    raw_events, attr_for = _event_list(body, contract)
    batch = Batch(caller=caller, now=now, attr_for=attr_for)
    errors = _Errors()
    parsed: list[ParsedEvent] = []
    for index, raw in enumerate(raw_events):
        batch.index = index
        event = _parse_event(raw, batch, contract, errors)
        if event is not None:
            parsed.append(event)
    for name, field in contract.fields:
        for index, code in field.check_batch(parsed, batch):
            errors.add(attr_for(index, name), code, field.error_messages[code])
    errors.raise_if_any()
    return parsed
