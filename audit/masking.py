"""Secrets never reach the audit log: masked by key name, by the look of the value, and in
URLs as in the logs (``config.logging.redact_path``: reset and confirmation keys, query
values)."""

from __future__ import annotations

import re
from typing import Any

from config.logging import REDACTED, redact_path

MASK = REDACTED

_SECRET_KEY_NAMES = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|"
    r"authorization|cookie|otp|recovery|signature|^key$|_key$|^code$|mfa_code|(^|_)pin$|"
    r"digest|ciphertext|(^|_)hash$|session[_-]?key)",
    re.IGNORECASE,
)
# Names that merely refer to a secret (its id, public prefix, hint, kind, timestamps).
_REFERENCE_KEY_NAMES = re.compile(
    r"(_id|_ids|_prefix|_hint|_kind|_type|_at|_count|_scopes|_name)$", re.IGNORECASE
)
# Our API keys, JWTs, PEM private keys, Django password hashes and Fernet tokens (what an
# encrypted slot credential looks like at rest), wherever they appear inside a string.
_SECRET_VALUES = re.compile(
    r"(rst_[A-Za-z0-9_-]{8,}|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(-----END [A-Z ]*PRIVATE KEY-----)?|"
    r"(argon2(id|i|d)?|pbkdf2_sha(1|256)|scrypt|bcrypt(_sha256)?)\$[^\s\"']+|"
    r"gAAAAA[A-Za-z0-9_-]{20,}={0,2})"
)


def is_secret_key(name: str) -> bool:
    return bool(_SECRET_KEY_NAMES.search(name)) and not _REFERENCE_KEY_NAMES.search(name)


def mask(value: Any, key: str | None = None) -> Any:
    """Mask by key name (whole value) and by the look of every string inside ``value``."""
    if key is not None and is_secret_key(key) and not isinstance(value, bool):
        return MASK if value not in (None, "", {}, []) else value
    if isinstance(value, dict):
        return {str(k): mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str):
        # NUL cannot be stored in PostgreSQL JSON; it never carries meaning in an event.
        return _SECRET_VALUES.sub(MASK, redact_path(value.replace("\x00", "")))
    return value
