"""Re-encrypt every stored slot credential under the newest key.

Rotation: put a new key in front of CREDENTIAL_ENCRYPTION_KEYS (keep the old ones after it),
deploy, run this command, then drop the old keys once it reports no failures.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError

from slots.services import credentials_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt slot credentials under the first key of CREDENTIAL_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--generate-key",
            action="store_true",
            help="Print a new Fernet key to put in front of CREDENTIAL_ENCRYPTION_KEYS and exit.",
        )
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, generate_key: bool = False, batch_size: int = 500, **options):
        if generate_key:
            self.stdout.write(Fernet.generate_key().decode())
            return
        counts = credentials_rotate_keys(batch_size=max(1, batch_size))
        self.stdout.write(
            f"rotated={counts['rotated']} already_current={counts['current']} "
            f"failed={counts['failed']}"
        )
        if counts["failed"]:
            raise CommandError(
                f"{counts['failed']} credential(s) could not be decrypted with any configured "
                "key; keep the old keys until they are dealt with."
            )
