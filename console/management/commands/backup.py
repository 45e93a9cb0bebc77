"""``manage.py backup``: take a backup now, in this process, then prove it restores."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from console.backups import services
from console.models import Backup


class Command(BaseCommand):
    help = "Back up the database (one snapshot) into BACKUP_DIR, then verify it in a scratch DB."

    def add_arguments(self, parser):
        parser.add_argument("--type", choices=Backup.Type.values, default=Backup.Type.FULL)
        parser.add_argument("--apps", nargs="+", default=[], help="For --type selective.")
        parser.add_argument("--include-files", action="store_true")
        parser.add_argument("--encrypt", action="store_true", help="With BACKUP_ENCRYPTION_KEYS.")
        parser.add_argument("--retention-days", type=int, default=services.DEFAULT_RETENTION_DAYS)
        parser.add_argument("--no-verify", action="store_true", help="Skip the restore proof.")

    def handle(self, *args, **options):
        try:
            backup = services.backup_create(
                backup_type=options["type"],
                apps=options["apps"],
                include_files=options["include_files"],
                encrypted=options["encrypt"],
                retention_days=options["retention_days"],
                run=False,
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        try:
            backup = services.backup_run(backup_id=backup.id)
        except Exception as exc:
            raise CommandError(f"The backup failed: {exc}") from exc
        if not options["no_verify"]:
            backup = services.backup_verify(backup_id=backup.id)
        self.stdout.write(
            json.dumps(
                {
                    "id": str(backup.id),
                    "file": str(services.backup_path(backup)),
                    "backup_type": backup.backup_type,
                    "base": str(backup.base_id) if backup.base_id else None,
                    "size": backup.size,
                    "sha256": backup.sha256,
                    "verified": None
                    if backup.verified_at is None
                    else {"ok": backup.verified_ok, "detail": backup.verified_detail},
                },
                indent=2,
            )
        )
        if backup.verified_at is not None and not backup.verified_ok:
            raise CommandError("The backup did not verify.", returncode=1)
