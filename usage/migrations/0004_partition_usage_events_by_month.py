# ruff: noqa: S608 - SQL text is built from table names fixed in this module.
"""Usage events partitioned by month on PostgreSQL; idempotency keys in their own table.

1. ``RetiredIdempotencyKey`` becomes ``IdempotencyKey``: every key ever accepted, not only
   the keys of purged events. The keys of the stored events are copied into it, then the
   events table loses its unique (user, key) index (a partitioned table cannot have one
   without the partition key). Both databases.
2. PostgreSQL only: ``usage_usageevent`` is rebuilt as a table partitioned by range of
   ``occurred_at``, one partition per UTC month from the oldest stored event to three months
   ahead, plus a default partition; the rows are copied (the table is locked meanwhile: the
   migration is downtime proportional to the rows, see docs/operations.md). The primary key
   becomes (id, occurred_at); ids keep their values and their sequence continues; the BRIN
   index on occurred_at goes (partition pruning does its job).

Reversible: backwards, the events are copied back into one table with its unique index, and
keys whose event still exists leave ``IdempotencyKey`` (they are ``RetiredIdempotencyKey``
rows again only for purged events).
"""

from datetime import UTC, datetime

from django.db import migrations, models
from django.utils import timezone

EVENTS = "usage_usageevent"
OLD = "usage_usageevent_unpartitioned"
MONTHS_AHEAD = 3


def _next_month(start: datetime) -> datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _foreign_keys(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    return cursor.fetchall()


def _restore_sequence(cursor) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{EVENTS}', 'id'), "
        f"COALESCE((SELECT max(id) FROM {EVENTS}), 0) + 1, false)"
    )


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps one table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {EVENTS} IN ACCESS EXCLUSIVE MODE")
        foreign_keys = _foreign_keys(cursor, EVENTS)
        cursor.execute(f"SELECT min(occurred_at) FROM {EVENTS}")
        oldest = cursor.fetchone()[0]
        cursor.execute(f"ALTER TABLE {EVENTS} RENAME TO {OLD}")
        cursor.execute(
            f"CREATE TABLE {EVENTS} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING IDENTITY) PARTITION BY RANGE (occurred_at)"
        )
        now = timezone.now()
        start = _month_start(min(oldest, now) if oldest else now)
        last = _month_start(now)
        for _ in range(MONTHS_AHEAD):
            last = _next_month(last)
        while start <= last:
            end = _next_month(start)
            cursor.execute(
                f'CREATE TABLE "{EVENTS}_p{start:%Y%m}" PARTITION OF {EVENTS} '
                "FOR VALUES FROM (%s) TO (%s)",
                [start, end],
            )
            start = end
        cursor.execute(f"CREATE TABLE {EVENTS}_default PARTITION OF {EVENTS} DEFAULT")
        cursor.execute(f"INSERT INTO {EVENTS} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")
        _restore_sequence(cursor)
        cursor.execute(f"ALTER TABLE {EVENTS} ADD PRIMARY KEY (id, occurred_at)")
        cursor.execute(f"CREATE INDEX usageevent_user_time ON {EVENTS} (user_id, occurred_at)")
        cursor.execute(
            f"CREATE INDEX usageevent_unrolled_user_time ON {EVENTS} (user_id, occurred_at) "
            "WHERE rolled_at IS NULL"
        )
        for name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {EVENTS} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(f"ANALYZE {EVENTS}")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {EVENTS} IN ACCESS EXCLUSIVE MODE")
        foreign_keys = _foreign_keys(cursor, EVENTS)
        cursor.execute(f"ALTER TABLE {EVENTS} RENAME TO {OLD}")
        cursor.execute(
            f"CREATE TABLE {EVENTS} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING IDENTITY)"
        )
        cursor.execute(f"INSERT INTO {EVENTS} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")  # and its partitions
        _restore_sequence(cursor)
        cursor.execute(f"ALTER TABLE {EVENTS} ADD PRIMARY KEY (id)")
        cursor.execute(f"CREATE INDEX usageevent_user_time ON {EVENTS} (user_id, occurred_at)")
        cursor.execute(
            f"CREATE INDEX usageevent_unrolled_user_time ON {EVENTS} (user_id, occurred_at) "
            "WHERE rolled_at IS NULL"
        )
        cursor.execute(f"CREATE INDEX usageevent_time_brin ON {EVENTS} USING brin (occurred_at)")
        for name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {EVENTS} ADD CONSTRAINT "{name}" {definition}')


COPY_KEYS = (
    "INSERT INTO usage_idempotencykey "
    "(user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, recorded_at) "
    "SELECT user_id, idempotency_key, meter_id, quantity, slot_id, occurred_at, received_at "
    "FROM usage_usageevent WHERE idempotency_key IS NOT NULL "
    "ON CONFLICT (user_id, idempotency_key) DO NOTHING"
)
# Backwards: keys of stored events live in the events' unique index again.
UNCOPY_KEYS = (
    "DELETE FROM usage_idempotencykey WHERE EXISTS (SELECT 1 FROM usage_usageevent e "
    "WHERE e.user_id = usage_idempotencykey.user_id "
    "AND e.idempotency_key = usage_idempotencykey.idempotency_key)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0003_claim_through_user_time_index"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="retiredidempotencykey",
            name="retiredidemkey_unique",
        ),
        migrations.RenameModel(old_name="RetiredIdempotencyKey", new_name="IdempotencyKey"),
        migrations.RenameField(
            model_name="idempotencykey", old_name="retired_at", new_name="recorded_at"
        ),
        migrations.AddConstraint(
            model_name="idempotencykey",
            constraint=models.UniqueConstraint(
                fields=("user", "idempotency_key"), name="idempotencykey_unique"
            ),
        ),
        migrations.RunSQL(COPY_KEYS, UNCOPY_KEYS),
        migrations.RemoveConstraint(
            model_name="usageevent",
            name="usageevent_user_idem_key",
        ),
        migrations.RunPython(partition, unpartition),
    ]
