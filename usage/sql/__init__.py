"""Usage's SQL, one module per database vendor: ``postgresql`` and ``sqlite``.

Both modules define the same names, and the code of usage asks ``dialect()`` for the module
of the current connection instead of branching on the vendor itself:

- statement snippets for the reads, whose statement is written once in
  ``usage.selectors.tail``: ``sum_of(column)`` and ``max_of(column)`` (exact over decimal
  columns), ``trunc(unit, column)``, ``epoch(expression)``, ``uuid_param(value)``;
- one function per write job: ``insert_events``, ``stored_for_keys``, ``rollup_batch``,
  ``purge_batch``.

PostgreSQL is production: each write job is one statement (CTEs, ``SKIP LOCKED``, JSON
parameters). SQLite is the development default: the same jobs through the ORM, which is
safe there because SQLite serialises writers.
"""

from __future__ import annotations

from types import ModuleType

from django.db import connection

from usage.sql import postgresql, sqlite


def dialect() -> ModuleType:
    """The SQL module of the default connection's vendor."""
    return postgresql if connection.vendor == "postgresql" else sqlite
