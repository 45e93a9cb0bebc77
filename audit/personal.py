"""Personal data in the audit log, encrypted under one key per person (crypto-shredding).

The log is append-only and sealed into a hash chain, so erasing a person cannot edit it.
Instead ``record`` stores every personal value as ``pii:<Fernet token>`` under the key of
the person it is about (``SubjectKey``); erasing the person deletes the key, and from then
on those values read as ``ERASED``. The seal covers the ciphertext, so the chain verifies
before and after an erasure, and so does an exported CSV.

Who a value is about (its subject), one rule for writing and reading:

- ``actor_display``: the acting user (``actor_id``), when the actor is a user;
- ``metadata.impersonator``: the impersonating admin (``metadata.impersonator_id``);
- the other personal keys of ``changes`` and ``metadata``: the target user when the target
  is a user; else the user the event names (``metadata.user_id``, or ``changes.user`` when
  the admin edits a row that belongs to a user); else the acting user. An event about no
  user (a failed sign-in for an unknown email) is kept as it is: nobody can ask to erase it.
- ``metadata.object_repr`` (the admin's name for the row) is personal only when the event
  is about a user's data (first three cases above): a user's repr is their email.

Secrets are masked (``audit.masking``) before any of this: a secret is never encrypted,
it is never stored at all. Readers take keys from the database on every use, never from a
cache, so a deleted key stops decrypting at once in every process. Writers keep committed
keys for a few minutes (see ``_keys_for_writing``): the audit write stays one INSERT.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from cryptography.fernet import Fernet, InvalidToken
from django.db import transaction

from audit.masking import MASK
from audit.models import AuditEvent, SubjectKey

PREFIX = "pii:"
ERASED = "[erased]"

# Keys whose values identify a person, wherever they appear in ``changes`` / ``metadata``.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "emails",
        "new_email",
        "old_email",
        "previous",  # auth.email.changed: the address before
        "identifier",  # the email or username typed at a sign-in
        "display_name",
        "first_name",
        "last_name",
        "phone",
        "username",
        "department",
        "impersonator",
        "uid",  # a person's account id at a social provider (auth.social.*)
    }
)
# Personal only when the event is about a user's data (an admin edit of a user, or of a row
# that belongs to one: the repr of a user or an email address is the email itself).
_ABOUT_A_USER_KEYS = frozenset({"object_repr"})

# A Fernet token always starts with version byte 0x80 and a timestamp ("gAAAAA"). Masking
# replaces anything of that look in recorded values, so a stored value of this form can only
# have been written here.
_SEALED_VALUE = re.compile(r"^pii:gAAAAA[A-Za-z0-9_-]{20,}={0,2}$")

# actor_display is a varchar(255): 127 bytes of plaintext make a 252-character value.
_ACTOR_DISPLAY_MAX_BYTES = 127


class Revealed(NamedTuple):
    """An event's personal fields as a reader sees them."""

    actor_display: str
    changes: dict
    metadata: dict


def _field(event: Any, name: str) -> Any:
    return event[name] if isinstance(event, dict) else getattr(event, name)


def _value_subject(
    *,
    actor_type: str,
    actor_id: str,
    target_type: str,
    target_id: str,
    changes: dict,
    metadata: dict,
) -> tuple[str, bool]:
    """(whose personal values these are or "", whether the event is about that user's data
    rather than merely done by them)."""
    if target_type == "user" and target_id:
        return target_id, True
    named = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(named, str) and named:
        return named, True
    pair = changes.get("user") if isinstance(changes, dict) else None
    if isinstance(pair, list) and len(pair) == 2:
        for value in (pair[1], pair[0]):
            if isinstance(value, str) and value:
                return value, True
    if actor_type == AuditEvent.ActorType.USER and actor_id:
        return actor_id, False
    return "", False


def value_subject(**event: Any) -> str:
    """Whose personal values an event's ``changes`` / ``metadata`` hold ("" for nobody)."""
    return _value_subject(**event)[0]


def _impersonator_subject(metadata: dict) -> str:
    value = metadata.get("impersonator_id") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) else ""


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and bool(_SEALED_VALUE.match(value))


# --- writing -------------------------------------------------------------------------------


def _worth_encrypting(value: Any) -> bool:
    return value not in (None, "", [], {}) and value != MASK


def _has_personal(value: Any, keys: frozenset[str]) -> bool:
    if isinstance(value, dict):
        return any(
            (k in keys and _worth_encrypting(v)) or _has_personal(v, keys) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_has_personal(v, keys) for v in value)
    return False


def _encrypt_json(value: Any, fernet: Fernet) -> Any:
    if not _worth_encrypting(value):
        return value
    return PREFIX + fernet.encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()


def _encrypt_tree(value: Any, fernet: Fernet, keys: frozenset[str], *, pairs: bool) -> Any:
    """``value`` with every personal key's value encrypted; ``pairs``: a ``changes`` dict,
    whose ``[before, after]`` pairs are encrypted side by side (the diff keeps its shape)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in keys:
                if pairs and isinstance(v, list) and len(v) == 2:
                    out[k] = [_encrypt_json(v[0], fernet), _encrypt_json(v[1], fernet)]
                else:
                    out[k] = _encrypt_json(v, fernet)
            else:
                out[k] = _encrypt_tree(v, fernet, keys, pairs=False)
        return out
    if isinstance(value, list):
        return [_encrypt_tree(v, fernet, keys, pairs=False) for v in value]
    return value


# Keys for *writing*, per process, filled only once the transaction that read or created
# them has committed (a rolled-back key never encrypts anything). A key deleted by an
# erasure may still encrypt new values here for up to WRITE_KEY_TTL seconds: those values
# are then unreadable, which is what erasure asks for. Reading never uses this cache.
WRITE_KEY_TTL = 300.0
_WRITE_KEY_CACHE_MAX = 10_000
_write_keys: dict[str, tuple[Fernet, float]] = {}


def _remember_write_key(subject: str, key: str) -> None:
    if len(_write_keys) >= _WRITE_KEY_CACHE_MAX:
        _write_keys.clear()
    _write_keys[subject] = (Fernet(key), time.monotonic() + WRITE_KEY_TTL)


def _keys_for_writing(subjects: set[str]) -> dict[str, Fernet]:
    """The subjects' keys, created on first use (the unique constraint settles a race)."""
    now = time.monotonic()
    keys: dict[str, Fernet] = {}
    for subject in subjects:
        cached = _write_keys.get(subject)
        if cached is not None and cached[1] > now:
            keys[subject] = cached[0]
    missing = subjects - keys.keys()
    if not missing:
        return keys
    found = dict(SubjectKey.objects.filter(subject_id__in=missing).values_list("subject_id", "key"))
    for subject in missing - found.keys():
        row, _ = SubjectKey.objects.get_or_create(
            subject_id=subject, defaults={"key": Fernet.generate_key().decode()}
        )
        found[subject] = row.key
    for subject, key in found.items():
        keys[subject] = Fernet(key)
        transaction.on_commit(lambda subject=subject, key=key: _remember_write_key(subject, key))
    return keys


def protect(
    *,
    actor_type: str,
    actor_id: str,
    actor_display: str,
    target_type: str,
    target_id: str,
    changes: dict,
    metadata: dict,
) -> tuple[str, dict, dict]:
    """(actor_display, changes, metadata) as stored: personal values encrypted.

    Takes values already masked. Touches the database only when there is something
    personal about a user to encrypt.
    """
    subject, about_a_user = _value_subject(
        actor_type=actor_type,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        changes=changes,
        metadata=metadata,
    )
    keys = PERSONAL_KEYS | _ABOUT_A_USER_KEYS if about_a_user else PERSONAL_KEYS
    value_keys = keys - {"impersonator"}
    impersonator = _impersonator_subject(metadata)
    encrypt_display = actor_type == AuditEvent.ActorType.USER and bool(actor_id and actor_display)
    encrypt_values = bool(subject) and (
        _has_personal(changes, value_keys) or _has_personal(metadata, value_keys)
    )
    encrypt_impersonator = bool(impersonator) and _worth_encrypting(metadata.get("impersonator"))
    needed = set()
    if encrypt_display:
        needed.add(actor_id)
    if encrypt_values:
        needed.add(subject)
    if encrypt_impersonator:
        needed.add(impersonator)
    if not needed:
        return actor_display, changes, metadata
    fernets = _keys_for_writing(needed)
    if encrypt_display:
        plain = actor_display.encode()[:_ACTOR_DISPLAY_MAX_BYTES].decode(errors="ignore")
        actor_display = PREFIX + fernets[actor_id].encrypt(plain.encode()).decode()
    if encrypt_values:
        changes = _encrypt_tree(changes, fernets[subject], value_keys, pairs=True)
        metadata = _encrypt_tree(metadata, fernets[subject], value_keys, pairs=False)
    if encrypt_impersonator:
        metadata = {
            **metadata,
            "impersonator": _encrypt_json(metadata["impersonator"], fernets[impersonator]),
        }
    return actor_display, changes, metadata


# --- reading -------------------------------------------------------------------------------


def _decrypt(value: str, fernet: Fernet | None) -> bytes | None:
    if fernet is None:
        return None
    try:
        return fernet.decrypt(value[len(PREFIX) :].encode())
    except InvalidToken:
        # Sealed under a key that was deleted (and since created anew): erased all the same.
        return None


def _reveal_tree(value: Any, fernet: Fernet | None) -> Any:
    if isinstance(value, dict):
        return {k: _reveal_tree(v, fernet) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal_tree(v, fernet) for v in value]
    if is_sealed(value):
        plain = _decrypt(value, fernet)
        return ERASED if plain is None else json.loads(plain)
    return value


def _subjects(event: Any) -> tuple[str, str, str]:
    """(actor_display's subject, the values' subject, the impersonator's)."""
    changes = _field(event, "changes") or {}
    metadata = _field(event, "metadata") or {}
    return (
        _field(event, "actor_id") or "",
        value_subject(
            actor_type=_field(event, "actor_type"),
            actor_id=_field(event, "actor_id") or "",
            target_type=_field(event, "target_type") or "",
            target_id=_field(event, "target_id") or "",
            changes=changes,
            metadata=metadata,
        ),
        _impersonator_subject(metadata),
    )


def reveal_many(events: Iterable[Any]) -> list[Revealed]:
    """The readable personal fields of ``events`` (models or ``.values()`` dicts), in order.

    One query for all the keys needed; values of an erased person read as ``ERASED``.
    """
    events = list(events)
    subjects = [_subjects(e) for e in events]
    wanted = {s for triple in subjects for s in triple if s}
    fernets: dict[str, Fernet] = {}
    if wanted:
        fernets = {
            subject: Fernet(key)
            for subject, key in SubjectKey.objects.filter(subject_id__in=wanted).values_list(
                "subject_id", "key"
            )
        }
    revealed = []
    for event, (actor_subject, subject, impersonator) in zip(events, subjects, strict=True):
        display = _field(event, "actor_display") or ""
        if is_sealed(display):
            plain = _decrypt(display, fernets.get(actor_subject))
            display = ERASED if plain is None else plain.decode()
        changes = _reveal_tree(_field(event, "changes") or {}, fernets.get(subject))
        metadata = _field(event, "metadata") or {}
        if impersonator and is_sealed(metadata.get("impersonator")):
            metadata = {
                **metadata,
                "impersonator": _reveal_tree(metadata["impersonator"], fernets.get(impersonator)),
            }
        metadata = _reveal_tree(metadata, fernets.get(subject))
        revealed.append(Revealed(display, changes, metadata))
    return revealed


def reveal(event: Any) -> Revealed:
    return reveal_many([event])[0]


def revealed_of(event: AuditEvent) -> Revealed:
    """``event.revealed``, set by ``attach_revealed`` for a page, or revealed now for one."""
    shown = getattr(event, "revealed", None)
    if shown is None:
        shown = event.revealed = reveal(event)
    return shown


def attach_revealed(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Sets ``event.revealed`` on each event (one query for the lot); returns them."""
    events = list(events)
    for event, shown in zip(events, reveal_many(events), strict=True):
        event.revealed = shown
    return events


def revealed_chunks(events: Iterable[Any], *, chunk_size: int = 1000) -> Iterator[tuple]:
    """``(event, Revealed)`` pairs over a long stream, one key query per chunk."""
    batch: list[Any] = []
    for event in events:
        batch.append(event)
        if len(batch) >= chunk_size:
            yield from zip(batch, reveal_many(batch), strict=True)
            batch = []
    if batch:
        yield from zip(batch, reveal_many(batch), strict=True)


def subject_forget(subject_id: Any) -> int:
    """Delete the subject's key: what was sealed under it can never be read again."""
    _write_keys.pop(str(subject_id), None)
    return SubjectKey.objects.filter(subject_id=str(subject_id)).delete()[0]
