"""``manage.py audit_verify``: recompute the audit hash chain and report the first break.

``manage.py audit_verify --csv export.csv`` checks a CSV exported from the admin instead:
every row's seal from its own columns, the links between consecutive rows, and (unless
``--offline``) that each seal is the one the database holds. Exit status 1 when broken.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from audit import selectors, services


class Command(BaseCommand):
    help = "Verify the audit log's hash chain (or an exported CSV file)."

    def add_arguments(self, parser):
        parser.add_argument("--csv", metavar="FILE", help="Check an exported CSV file.")
        parser.add_argument(
            "--offline",
            action="store_true",
            help="With --csv: check the file alone, without comparing with the database.",
        )
        parser.add_argument("--from-seq", type=int, help="Check from this link on.")
        parser.add_argument("--limit", type=int, help="Check at most this many links.")
        parser.add_argument(
            "--seal-first",
            action="store_true",
            help="Seal pending events before verifying.",
        )

    def handle(self, *args, **options):
        if options["seal_first"]:
            services.events_seal()
        if options["csv"]:
            try:
                with open(options["csv"], newline="", encoding="utf-8") as handle:
                    result = selectors.csv_verify(handle, against_database=not options["offline"])
            except OSError as exc:
                raise CommandError(f"Cannot read {options['csv']}: {exc}") from exc
        else:
            result = selectors.chain_verify(from_seq=options["from_seq"], limit=options["limit"])
        self.stdout.write(json.dumps(result.as_dict(), indent=2))
        if not result.ok:
            raise CommandError("The audit log does not verify.", returncode=1)
