# ruff: noqa: S608 - SQL text is built from index, table and column names fixed in this module
# and partition names PostgreSQL listed.
"""A person's events by time: (actor_id, occurred_at, id) and (target_id, occurred_at, id)
replace (actor_id, id) and (target_id, id).

The API and the security log page newest first by (occurred_at, id), so that a page's time
bound prunes the monthly partitions (an id says nothing of the month); each partition holds
its own part of both indexes.

On PostgreSQL the new indexes are built without blocking the recording of events: the
partitioned index is declared on the parent only (``ON ONLY``), each partition's index is
built ``CONCURRENTLY`` and attached, which makes the parent's index valid once every
partition has one. Partitions created later get it from the parent. The old indexes go by a
plain ``DROP INDEX`` (an instant under the table's lock). Elsewhere, the ordinary index
operations.
"""

from django.db import migrations, models

EVENTS = "audit_auditevent"
OLD = {"audit_actor_id": ("actor_id", "id"), "audit_target_id": ("target_id", "id")}
NEW = {
    "audit_actor_time": ("actor_id", "occurred_at", "id"),
    "audit_target_time": ("target_id", "occurred_at", "id"),
}


def _partitions_without(cursor, index: str) -> list[str]:
    """The partitions of the events table with no partition of ``index`` attached yet."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass AND NOT EXISTS ("
        "  SELECT 1 FROM pg_inherits ii JOIN pg_index x ON x.indexrelid = ii.inhrelid "
        "  WHERE ii.inhparent = %s::regclass AND x.indrelid = c.oid"
        ") ORDER BY c.relname",
        [EVENTS, index],
    )
    return [name for (name,) in cursor.fetchall()]


def _is_partitioned(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [EVENTS])
    return cursor.fetchone() is not None


def _create(cursor, name: str, columns: tuple[str, ...]) -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    if not _is_partitioned(cursor):
        cursor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON {EVENTS} ({cols})')
        return
    cursor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON ONLY {EVENTS} ({cols})')
    suffix = name.removeprefix("audit_")
    for partition in _partitions_without(cursor, name):
        child = f"{partition}_{suffix}"
        cursor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{child}" ON "{partition}" ({cols})'
        )
        cursor.execute(f'ALTER INDEX "{name}" ATTACH PARTITION "{child}"')


def _swap(schema_editor, drop: dict, create: dict) -> None:
    with schema_editor.connection.cursor() as cursor:
        for name, columns in create.items():
            _create(cursor, name, columns)
        for name in drop:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _swap(schema_editor, OLD, NEW)
        return
    model = apps.get_model("audit", "AuditEvent")
    for name, columns in NEW.items():
        schema_editor.add_index(model, models.Index(fields=list(columns), name=name))
    for name, columns in OLD.items():
        schema_editor.remove_index(model, models.Index(fields=list(columns), name=name))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _swap(schema_editor, NEW, OLD)
        return
    model = apps.get_model("audit", "AuditEvent")
    for name, columns in OLD.items():
        schema_editor.add_index(model, models.Index(fields=list(columns), name=name))
    for name, columns in NEW.items():
        schema_editor.remove_index(model, models.Index(fields=list(columns), name=name))


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction.
    atomic = False

    dependencies = [
        ("audit", "0005_partition_audit_events_by_month"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_actor_id"),
                migrations.RemoveIndex(model_name="auditevent", name="audit_target_id"),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(
                        fields=["actor_id", "occurred_at", "id"], name="audit_actor_time"
                    ),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(
                        fields=["target_id", "occurred_at", "id"], name="audit_target_time"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
