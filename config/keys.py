"""Secrets that must be identical in every process.

In production they come from the environment. On the embedded defaults they are generated
once into ``var/`` (atomically, so concurrent first starts agree) and read back by every
gunicorn worker, the Celery worker and beat. Never generated per process.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _read_or_create(path: Path, make: callable) -> str:
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(make())
    os.chmod(tmp, 0o600)
    try:
        # link() fails if another process won the race; then everyone reads the winner.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text()


def local_secret_key(var_dir: Path) -> str:
    return _read_or_create(var_dir / "secret_key", lambda: secrets.token_urlsafe(50)).strip()


def _new_rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def jwt_private_keys(env, var_dir: Path) -> list[str]:
    """Signing keys, newest first. The first signs; all of them verify (rotation)."""
    keys = []
    for name in ("JWT_PRIVATE_KEY", "JWT_PREVIOUS_PRIVATE_KEY"):
        value = env.str(name, default="")
        file_value = env.str(f"{name}_FILE", default="")
        if file_value:
            value = Path(file_value).read_text()
        if value:
            keys.append(value.replace("\\n", "\n"))
    if keys:
        return keys
    key_dir = var_dir / "jwt"
    current = _read_or_create(key_dir / "current.pem", _new_rsa_pem)
    previous = key_dir / "previous.pem"
    return [current, previous.read_text()] if previous.exists() else [current]


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def fernet_keys(env, var_dir: Path) -> list[str]:
    """Credential encryption keys, newest first (MultiFernet order)."""
    keys = env.list("CREDENTIAL_ENCRYPTION_KEYS", default=[])
    if keys:
        return keys
    path = var_dir / "credential_keys"
    text = _read_or_create(path, lambda: Fernet.generate_key().decode() + "\n")
    return [line.strip() for line in text.splitlines() if line.strip()]
