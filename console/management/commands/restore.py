"""``manage.py restore FILE [--into DATABASE_URL]``: write a backup (with the backups it
builds on, found beside it) back into the database, in one transaction.

The tables the backup holds are replaced; other tables are left as they are. ``--into``
restores into another database (it must be migrated to the same Roster version), by running
this command in a process whose default database is that one.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, IntegrityError

from console.backups import fileformat, services


class Command(BaseCommand):
    help = "Restore a backup file (and its incremental chain) into the database."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--into", metavar="DATABASE_URL", help="Restore into this database.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Compare row counts and verify the audit chain, then roll everything back.",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options):
        path = Path(options["file"]).resolve()
        if options["into"]:
            args = [str(path)] + [f"--{flag}" for flag in ("check", "json") if options[flag]]
            done = services.run_manage(
                ["restore", *args], database_url=options["into"], timeout=24 * 3600
            )
            self.stdout.write(done.stdout, ending="")
            self.stderr.write(done.stderr, ending="")
            if done.returncode:
                raise CommandError("The restore failed.", returncode=done.returncode)
            return
        try:
            result = services.restore(path, check=options["check"])
        except fileformat.BackupFileError as exc:
            raise CommandError(f"{exc.code}: {exc}") from exc
        except (IntegrityError, DatabaseError) as exc:
            raise CommandError(f"The database refused the restored rows: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(result, separators=(",", ":")))
        else:
            self.stdout.write(json.dumps(result, indent=2))
        if options["check"] and not result["ok"]:
            raise CommandError("The restored data does not check out.", returncode=1)
