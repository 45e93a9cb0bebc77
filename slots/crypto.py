"""Encryption of slot credentials at rest (Fernet tokens under a MultiFernet key list).

``settings.CREDENTIAL_ENCRYPTION_KEYS`` lists keys newest first: the first encrypts, every
one decrypts, so a new key can be put in front and old rows re-encrypted at leisure
(``manage.py rotate_credential_keys``) before the old key is dropped.

The plaintext carries the slot id, and decryption checks it: a ciphertext copied onto
another slot's row does not decrypt as that slot's credentials.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialDecryptionError(Exception):
    """The stored credentials cannot be read with any configured key (or belong elsewhere)."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise RuntimeError("settings.CREDENTIAL_ENCRYPTION_KEYS is empty.")
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def multifernet() -> MultiFernet:
    return _multifernet(tuple(settings.CREDENTIAL_ENCRYPTION_KEYS))


def encrypt(*, slot_id, secret: dict) -> str:
    payload = json.dumps({"slot": str(slot_id), "secret": secret}, separators=(",", ":"))
    return multifernet().encrypt(payload.encode()).decode()


def decrypt(*, slot_id, ciphertext: str) -> dict:
    try:
        payload = json.loads(multifernet().decrypt(ciphertext.encode()))
    except (InvalidToken, ValueError) as exc:
        raise CredentialDecryptionError("No configured key decrypts these credentials.") from exc
    if payload.get("slot") != str(slot_id):
        raise CredentialDecryptionError("These credentials belong to another slot.")
    return payload["secret"]


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the newest key (raises CredentialDecryptionError if unreadable)."""
    try:
        return multifernet().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise CredentialDecryptionError("No configured key decrypts these credentials.") from exc


def is_current(ciphertext: str) -> bool:
    """Whether the newest key decrypts this token (then rotation has nothing to do)."""
    newest = settings.CREDENTIAL_ENCRYPTION_KEYS[0]
    try:
        Fernet(newest.encode() if isinstance(newest, str) else newest).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True
