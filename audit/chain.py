"""The hash chain: one canonical form of an event and the seal that links it to the last one.

``seal(n) = sha256(canonical(event n) + seal(n - 1))`` (hex), with ``seal(0) = GENESIS``.
The canonical form is compact JSON with sorted keys over every recorded field plus ``seq``
(so moving a row to another place in the chain breaks its seal). The database ``id`` is left
out: a restored copy of the log still verifies. The same functions serve the sealer, the
verifier and the CSV check, so the three can never disagree on what was sealed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

GENESIS = "0" * 64

# The fields that are sealed, in the order the CSV export writes them.
SEALED_FIELDS = (
    "uuid",
    "occurred_at",
    "action",
    "actor_type",
    "actor_id",
    "actor_display",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "request_id",
    "changes",
    "metadata",
)


def format_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: dict[str, Any], seq: int) -> bytes:
    """``event`` holds SEALED_FIELDS as read from the database (or from an export)."""
    occurred_at = event["occurred_at"]
    body = {
        "seq": int(seq),
        "uuid": str(event["uuid"]),
        "occurred_at": occurred_at if isinstance(occurred_at, str) else format_time(occurred_at),
        "action": event["action"],
        "actor_type": event["actor_type"],
        "actor_id": event["actor_id"],
        "actor_display": event["actor_display"],
        "target_type": event["target_type"],
        "target_id": event["target_id"],
        "ip": event["ip"] or None,
        "user_agent": event["user_agent"],
        "request_id": event["request_id"],
        "changes": event["changes"],
        "metadata": event["metadata"],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_seal(event: dict[str, Any], seq: int, previous_seal: str) -> str:
    return hashlib.sha256(canonical(event, seq) + previous_seal.encode()).hexdigest()
