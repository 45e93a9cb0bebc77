"""The serializers of ``POST /usage/events``: one event, or ``{"events": [...]}``."""

from __future__ import annotations

from rest_framework import serializers

from usage.contract.fields import (
    MAX_BATCH,
    MAX_KEY_LENGTH,
    MAX_METADATA_BYTES,
    IdempotencyKeyField,
    MetadataField,
    MeterField,
    OccurredAtField,
    QuantityField,
    SlotField,
    UserField,
)


class UsageEventListSerializer(serializers.ListSerializer):
    default_error_messages = {
        "not_a_list": "events must be a list of event objects.",
        "empty": "events must hold at least one event.",
        "max_length": "A batch holds at most {max_length} events.",
    }


class UsageEventInSerializer(serializers.Serializer):
    """One usage event: what was used (meter, quantity), when, and against which slot."""

    default_error_messages = {
        "invalid": "Expected an event object.",
        "unknown_field": "This field is not accepted.",
    }

    # Checked in this order: ``user`` decides whose slots ``slot`` may name, ``meter``
    # whether ``quantity`` may be left out.

    user = UserField(
        required=False, allow_null=True, help_text="Admins only: file the event for this user."
    )
    meter = MeterField(help_text="A meter key from GET /api/v1/meters.")
    quantity = QuantityField(
        required=False,
        allow_null=True,
        help_text=(
            "A JSON number from 0 to 1e15 with at most 6 fractional digits, read as the exact "
            "decimal written (never through a float), stored and summed exactly (21 "
            "significant digits; buckets hold 38) on PostgreSQL and SQLite alike. More "
            "fractional digits are 400 `max_decimal_places`, never rounded. "
            "Strings are refused. Required, except for `count` meters where it defaults to 1 "
            "(a count meter counts events, whatever the quantity)."
        ),
    )
    slot = SlotField(required=False, allow_null=True, help_text="One of your slots (any status).")
    occurred_at = OccurredAtField(
        required=False,
        allow_null=True,
        help_text=(
            "RFC 3339 with a time zone; at most 5 minutes ahead and no older than the "
            "late-arrival window (default 7 days). Defaults to the time of receipt."
        ),
    )
    idempotency_key = IdempotencyKeyField(
        required=False,
        allow_null=True,
        max_length=MAX_KEY_LENGTH,
        help_text=(
            "Counted once per user, forever. A replay with the same meter, quantity, slot "
            "(and occurred_at, when the replay gives one) is a duplicate; different content "
            "is 409 `idempotency_conflict`. Events without a key are counted every time."
        ),
    )
    metadata = MetadataField(
        required=False,
        allow_null=True,
        help_text=f"Free-form JSON object, at most {MAX_METADATA_BYTES} bytes.",
    )

    class Meta:
        list_serializer_class = UsageEventListSerializer


class UsageEventBatchInSerializer(serializers.Serializer):
    default_error_messages = {
        "invalid": 'Send one event object or {"events": [...]} with up to 1000 events.',
        "unknown_field": "This field is not accepted.",
    }

    events = UsageEventInSerializer(many=True, allow_empty=False, max_length=MAX_BATCH)
