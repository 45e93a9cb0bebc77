"""Rotate the JWT signing key.

New tokens are signed with the new key at once (after a restart); tokens signed with the
old key stay valid, because the old key is kept as a verification key and listed in the
JWKS. Drop the old key once every token it signed has expired (the refresh token
lifetime, 30 days by default; after only the access token lifetime, sessions whose refresh
token was not rotated meanwhile must sign in again).

Embedded keys (``var/jwt/``): ``current.pem`` becomes ``previous.pem`` and a new
``current.pem`` is written. Keys from the environment: a new PEM is written to ``--out``;
set it as ``JWT_PRIVATE_KEY(_FILE)``, move the old one to ``JWT_PREVIOUS_PRIVATE_KEY(_FILE)``
and restart.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.jwt_codec import rfc7638_thumbprint
from config.keys import _new_rsa_pem


def _kid(pem: str) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return rfc7638_thumbprint(key.public_key())


def _write_private(path: Path, pem: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(pem)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Command(BaseCommand):
    help = "Rotate the JWT signing key (old tokens stay valid until they expire)."

    def add_arguments(self, parser):
        parser.add_argument("--show", action="store_true", help="List the configured key ids.")
        parser.add_argument(
            "--drop-previous",
            action="store_true",
            help="Embedded keys: forget the previous key (its tokens stop working).",
        )
        parser.add_argument(
            "--out", help="Keys from the environment: write the new private key (PEM) here."
        )

    def handle(self, *args, show=False, drop_previous=False, out=None, **options):
        configured = [_kid(pem) for pem in settings.JWT_SIGNING_KEYS]
        if show:
            for index, kid in enumerate(configured):
                role = "signs and verifies" if index == 0 else "verifies only"
                self.stdout.write(f"{kid}  ({role})")
            return
        key_dir = Path(settings.VAR_DIR) / "jwt"
        if settings.JWT_KEYS_ARE_GENERATED:
            if drop_previous:
                (key_dir / "previous.pem").unlink(missing_ok=True)
                self.stdout.write("Dropped the previous key. Restart Roster's processes.")
                return
            current = key_dir / "current.pem"
            if not current.exists():
                raise CommandError(f"No embedded key at {current}.")
            _write_private(key_dir / "previous.pem", current.read_text())
            new_pem = _new_rsa_pem()
            _write_private(current, new_pem)
            self.stdout.write(
                f"New signing key {_kid(new_pem)}; previous key {configured[0]} still verifies.\n"
                "Restart Roster's web and worker processes to use it."
            )
            return
        if drop_previous:
            raise CommandError("Keys come from the environment: unset JWT_PREVIOUS_PRIVATE_KEY.")
        if not out:
            raise CommandError("Keys come from the environment: give --out PATH for the new key.")
        path = Path(out)
        if path.exists():
            raise CommandError(f"{path} exists; refusing to overwrite a key.")
        new_pem = _new_rsa_pem()
        _write_private(path, new_pem)
        self.stdout.write(
            f"Wrote new key {_kid(new_pem)} to {path}.\n"
            "1. Set JWT_PREVIOUS_PRIVATE_KEY(_FILE) to the current key "
            f"({configured[0]}).\n"
            f"2. Set JWT_PRIVATE_KEY_FILE={path} (or JWT_PRIVATE_KEY to its contents).\n"
            "3. Restart web and worker processes; the JWKS then lists both keys.\n"
            "4. After the refresh token lifetime, unset JWT_PREVIOUS_PRIVATE_KEY and restart."
        )
