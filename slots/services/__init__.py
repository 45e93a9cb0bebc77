"""Write side of slots: every change to a slot goes through one of these functions.

Each opens its own transaction, enforces the rule (quota with the owner row locked, config
schema, status machine, who may act), and records the audit event in the same transaction.
One module per job:

- ``rules``: who may act on a slot; the checks of a name, a type and a config;
- ``changes``: create (under the owner's quota) and update;
- ``transitions``: moves through the status machine, the release of a person's slots;
- ``credentials``: the encrypted credentials and their key rotation;
- ``activity``: heartbeats and the suspension of idle slots.

Callers import from ``slots.services``; the names below are its interface.
"""

from slots.services.activity import (
    HEARTBEAT_WRITE_INTERVAL,
    heartbeat_cache_key,
    slot_heartbeat,
    slots_suspend_idle,
)
from slots.services.changes import slot_create, slot_update
from slots.services.credentials import (
    CREDENTIAL_FIELDS,
    CREDENTIAL_HINT_FIELD,
    CREDENTIAL_MAX_LENGTH,
    HINT_MIN_SECRET_LENGTH,
    credential_hint,
    credentials_rotate_keys,
    slot_credentials_clear,
    slot_credentials_get,
    slot_credentials_set,
)
from slots.services.rules import (
    CONFIG_MAX_BYTES,
    CONFIG_MAX_DEPTH,
    CONFIG_MAX_ERRORS,
    actor_is_admin,
    resolve_slot_type,
    validate_slot_config,
    validate_slot_name,
)
from slots.services.transitions import (
    slot_activate,
    slot_release,
    slot_resume,
    slot_suspend,
    slot_transition,
    slots_release_owned,
)

__all__ = [
    "CONFIG_MAX_BYTES",
    "CONFIG_MAX_DEPTH",
    "CONFIG_MAX_ERRORS",
    "CREDENTIAL_FIELDS",
    "CREDENTIAL_HINT_FIELD",
    "CREDENTIAL_MAX_LENGTH",
    "HEARTBEAT_WRITE_INTERVAL",
    "HINT_MIN_SECRET_LENGTH",
    "actor_is_admin",
    "credential_hint",
    "credentials_rotate_keys",
    "heartbeat_cache_key",
    "resolve_slot_type",
    "slot_activate",
    "slot_create",
    "slot_credentials_clear",
    "slot_credentials_get",
    "slot_credentials_set",
    "slot_heartbeat",
    "slot_release",
    "slot_resume",
    "slot_suspend",
    "slot_transition",
    "slot_update",
    "slots_release_owned",
    "slots_suspend_idle",
    "validate_slot_config",
    "validate_slot_name",
]
