# ruff: noqa: S608 - SQL text is built from table names fixed in this module and from
# definitions PostgreSQL itself printed (pg_get_indexdef, pg_get_triggerdef).
"""Audit events partitioned by month on PostgreSQL (SQLite keeps one table).

``audit_auditevent`` is rebuilt as a table partitioned by range of ``occurred_at``, one
partition per UTC month (``audit_auditevent_pYYYYMM``) from the oldest stored event to three
months ahead, plus ``audit_auditevent_default`` for an event of a month with no partition:
recording an event never fails for want of a partition. The rows are copied while the table
is locked (downtime proportional to the rows, see docs/operations.md); ids keep their values
and their identity sequence continues after the highest.

What changes with the partition key, and why each rule still holds:

- Primary key (id, occurred_at). ``id`` stays unique: only the identity sequence assigns it
  (the one INSERT of ``audit.services.record`` never names it; a restore writes back ids the
  sequence gave).
- ``seq`` (the chain position): the unique index becomes (seq, occurred_at). ``seq`` stays
  unique across partitions because only the sealer writes it, under the lock of the one
  ``AuditChain`` row, each time ``head_seq + 1`` upwards; the triggers refuse an INSERT that
  carries a ``seq`` and any UPDATE of a row that has one. A duplicate could only come from
  someone past the triggers, and verification reports it (the chain's next link is missing
  or a seal does not match).
- ``uuid``: the unique index becomes (uuid, occurred_at), which still refuses a repeat at the
  same instant and serves the lookups by uuid. Across partitions uniqueness rests on how the
  uuid is made: version 4 from the operating system's random source, by ``record`` only (122
  random bits: among 10^10 events the chance of any repeat is about 10^-17). A side table
  unique on uuid, as usage keeps for idempotency keys, would cost every audited request a
  second row; usage needs one because callers choose their keys, nobody chooses a uuid.
- The append-only triggers are created on the partitioned table; PostgreSQL clones them to
  every partition, present and future, under the same names (so ``pgtrigger.ignore`` of a
  restore still works).
- The index on ``occurred_at`` alone stays (the admin's date filter and ordering).

Reversible: backwards, the rows are copied back into one table, with the single-column
unique indexes on ``uuid`` and ``seq`` again.
"""

from datetime import UTC, datetime

from django.db import migrations
from django.utils import timezone

EVENTS = "audit_auditevent"
OLD = "audit_auditevent_unpartitioned"
MONTHS_AHEAD = 3


def _next_month(start: datetime) -> datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _indexes(cursor) -> list[str]:
    """CREATE INDEX statements of the events table's plain indexes (not its primary key
    nor its unique constraints, which each direction defines itself)."""
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        [EVENTS],
    )
    # A partitioned table's index prints as "ON ONLY"; created on the new table, without it.
    return [d.replace(" ON ONLY ", " ON ", 1) for (d,) in cursor.fetchall()]


def _triggers(cursor) -> list[tuple[str, str, str | None]]:
    """(name, CREATE TRIGGER statement, comment) of the table's own triggers (pgtrigger keeps
    its hash in the comment)."""
    cursor.execute(
        "SELECT tgname, pg_get_triggerdef(oid), obj_description(oid, 'pg_trigger') "
        "FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
        [EVENTS],
    )
    return cursor.fetchall()


def _restore(cursor, indexes, triggers) -> None:
    for statement in indexes:
        cursor.execute(statement)
    for name, statement, comment in triggers:
        cursor.execute(statement)
        if comment is not None:
            cursor.execute(f'COMMENT ON TRIGGER "{name}" ON {EVENTS} IS %s', [comment])
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{EVENTS}', 'id'), "
        f"COALESCE((SELECT max(id) FROM {EVENTS}), 0) + 1, false)"
    )
    cursor.execute(f"ANALYZE {EVENTS}")


def _rename_away(cursor) -> tuple[list[str], list]:
    cursor.execute(f"LOCK TABLE {EVENTS} IN ACCESS EXCLUSIVE MODE")
    indexes, triggers = _indexes(cursor), _triggers(cursor)
    cursor.execute(f"ALTER TABLE {EVENTS} RENAME TO {OLD}")
    return indexes, triggers


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps one table
    with schema_editor.connection.cursor() as cursor:
        indexes, triggers = _rename_away(cursor)
        cursor.execute(f"SELECT min(occurred_at) FROM {OLD}")
        oldest = cursor.fetchone()[0]
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
        # Before the triggers exist: the insert trigger would refuse the sealed rows.
        cursor.execute(f"INSERT INTO {EVENTS} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"ALTER TABLE {EVENTS} ADD PRIMARY KEY (id, occurred_at)")
        cursor.execute(
            f"ALTER TABLE {EVENTS} ADD CONSTRAINT audit_auditevent_uuid_time_key "
            "UNIQUE (uuid, occurred_at)"
        )
        cursor.execute(
            f"ALTER TABLE {EVENTS} ADD CONSTRAINT audit_auditevent_seq_time_key "
            "UNIQUE (seq, occurred_at)"
        )
        _restore(cursor, indexes, triggers)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        indexes, triggers = _rename_away(cursor)
        cursor.execute(
            f"CREATE TABLE {EVENTS} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING IDENTITY)"
        )
        cursor.execute(f"INSERT INTO {EVENTS} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")  # and its partitions
        cursor.execute(f"ALTER TABLE {EVENTS} ADD PRIMARY KEY (id)")
        cursor.execute(
            f"ALTER TABLE {EVENTS} ADD CONSTRAINT audit_auditevent_uuid_key UNIQUE (uuid)"
        )
        cursor.execute(f"ALTER TABLE {EVENTS} ADD CONSTRAINT audit_auditevent_seq_key UNIQUE (seq)")
        _restore(cursor, indexes, triggers)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_subject_keys"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition),
    ]
