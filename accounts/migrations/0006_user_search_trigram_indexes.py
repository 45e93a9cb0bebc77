"""Trigram indexes for the user search (GET /api/v1/users?q=), PostgreSQL only.

``q`` is a case-insensitive substring match (``UPPER(col::text) LIKE UPPER('%q%')``) over
five columns; without these indexes it reads every user row. The indexes are on exactly that
expression, so PostgreSQL combines them with a BitmapOr. pg_trgm is a trusted extension
(PostgreSQL 13+): the database owner may create it. Where it cannot be created, the search
still works, only without the indexes. SQLite has nothing to do.
"""

from django.db import DatabaseError, migrations, transaction

COLUMNS = ("email", "username", "display_name", "first_name", "last_name")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        print("  pg_trgm is not available: the user search runs without trigram indexes.")
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS user_search_{column}_trgm ON accounts_user "
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS user_search_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_user_erasure_due")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
