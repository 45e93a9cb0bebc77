"""The usage event contract of ``POST /usage/events``, declared once.

The fields of ``UsageEventInSerializer`` are its one source. From them come:

- the OpenAPI schema: drf-spectacular reads each field's type, limits (its validators),
  nullability and help text;
- the error codes: each field's ``error_messages`` are exactly the codes its check raises
  (drf-standardized-errors lists them in the schema);
- the validation: ``parse_events`` runs each field's ``check`` on every event, in the order
  the fields are declared (``user`` decides whose slots ``slot`` may name, ``meter`` decides
  whether ``quantity`` may be left out).

Why a ``check`` per field instead of DRF's ``is_valid()``: ingestion takes batches of 1000
events at 20,000+ events/s, and DRF's per-field machinery (``run_validation``, an exception
and ``ErrorDetail`` objects per error, a copy of the fields per serializer) costs more per
event than storing it. ``check`` is the compiled rule: one call per field and event, an
exception only for a refused value. All or nothing: every error of a request is collected
(at most ``MAX_REPORTED_ERRORS``) and raised together as a ``ValidationError`` keyed
``events.<index>.<field>``, and nothing is stored.
"""

from usage.contract.fields import (
    MAX_BATCH,
    MAX_FUTURE,
    MAX_KEY_LENGTH,
    MAX_METADATA_BYTES,
    late_arrival_window,
)
from usage.contract.serializers import UsageEventBatchInSerializer, UsageEventInSerializer
from usage.contract.validation import ParsedEvent, parse_events

__all__ = [
    "MAX_BATCH",
    "MAX_FUTURE",
    "MAX_KEY_LENGTH",
    "MAX_METADATA_BYTES",
    "ParsedEvent",
    "UsageEventBatchInSerializer",
    "UsageEventInSerializer",
    "late_arrival_window",
    "parse_events",
]
