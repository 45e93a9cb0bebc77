"""Reading every table in one snapshot, and writing a chain of backups back.

Rows go through Django's serializers (the ``python`` serializer, one JSON line per row), so a
backup taken on SQLite restores into PostgreSQL and back. Auto-created many-to-many tables
are tables of their own here, so the other models are serialized without their m2m fields.

Per table, a backup section has a mode:

- ``whole``: every row; restoring it replaces the table's rows.
- ``changed`` (incremental, tables with ``updated_at``): rows updated since the base's
  snapshot (minus ``CHANGE_SLACK``, for transactions that committed after it started), and
  the primary keys of every row, so rows deleted since the base are deleted on restore.
- ``appended`` (incremental, append-only tables): rows past the base's highest id, plus the
  few older rows that append-only tables still touch (an audit event being sealed, a usage
  event being rolled up); rows below the table's lowest id are deleted on restore
  (retention removed them), and so are the ``gaps``, ranges of the base's ids that hold no
  row any more (usage events deleted with their user).

And a format. On PostgreSQL a table of ``COPY_MIN_ROWS`` rows or more (usage and audit
events, the users, their settings at scale) is a ``copy`` section: its rows are read with
``COPY (SELECT ...) TO STDOUT`` inside the snapshot and stored as PostgreSQL's COPY text
(records ``{"copy": "<rows>"}``, whole rows of about ``COPY_CHUNK`` characters each), and a
restore writes them with ``COPY table (columns) FROM STDIN`` (straight into the table for a
``whole`` section; through a temporary table for the other modes, whose rows replace the
ones with the same primary key). A partitioned table (usage events, by month) routes the
copied rows to its partitions itself. Copy sections restore into PostgreSQL only; smaller
tables, and every table on SQLite, stay ``json`` sections (one serialized row per record).
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from functools import partial
from typing import Any

import pgtrigger
from django.apps import apps as django_apps
from django.core import serializers
from django.core.files.base import ContentFile
from django.core.management.color import no_style
from django.db import connection, models, transaction

CHANGE_SLACK = datetime.timedelta(hours=1)
BATCH = 1000
# PostgreSQL: tables with at least this many rows are dumped and restored with COPY.
COPY_MIN_ROWS = 20_000
COPY_CHUNK = 1 << 18  # characters of COPY text per record
EXCLUDED = {"console.backup"}  # the record of backups is not restored over by a backup


def _audit_touched(entry: dict[str, Any], since: datetime.datetime) -> models.Q:
    return models.Q(seq__isnull=True) | models.Q(seq__gt=entry.get("max_seq") or 0)


def _usage_touched(entry: dict[str, Any], since: datetime.datetime) -> models.Q:
    return models.Q(rolled_at__isnull=True) | models.Q(rolled_at__gte=since)


def _never_touched(entry: dict[str, Any], since: datetime.datetime) -> models.Q:
    return models.Q(pk__in=[])


# Append-only tables: label -> (older rows that may still change, an extra watermark field).
# Idempotency keys are only ever inserted (and deleted with their user: the ``gaps``).
APPEND_ONLY: dict[str, tuple[Callable[..., models.Q], str | None]] = {
    "audit.auditevent": (_audit_touched, "seq"),
    "usage.usageevent": (_usage_touched, None),
    "usage.idempotencykey": (_never_touched, None),
}
# Triggers that keep the audit log append-only (PostgreSQL): a restore writes history back.
AUDIT_TRIGGERS = (
    "audit.AuditEvent:audit_no_update",
    "audit.AuditEvent:audit_no_delete",
    "audit.AuditEvent:audit_insert_unsealed",
)


class RestoreError(Exception):
    code = "restore_failed"


def backup_models(app_labels: Iterable[str] | None = None) -> list[type[models.Model]]:
    """Every table Roster's models own (m2m tables included), in dependency-free order."""
    wanted = set(app_labels) if app_labels else None
    found = []
    for model in django_apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.swapped or meta.label_lower in EXCLUDED:
            continue
        if wanted is not None and meta.app_label not in wanted:
            continue
        found.append(model)
    return sorted(found, key=lambda m: m._meta.label_lower)


def app_labels() -> set[str]:
    return {model._meta.app_label for model in backup_models()}


def _field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if not f.primary_key]


def _mode(model: type[models.Model], base_manifest: dict[str, Any] | None) -> str:
    label = model._meta.label_lower
    if base_manifest is None or label not in base_manifest:
        return "whole"
    if label in APPEND_ONLY and isinstance(model._meta.pk, models.AutoField):
        return "appended"
    if any(f.name == "updated_at" for f in model._meta.concrete_fields):
        return "changed"
    return "whole"


class Snapshot:
    """Opens the one read transaction every table is read in."""

    def __enter__(self) -> Snapshot:
        if connection.in_atomic_block:
            raise RuntimeError("A backup reads in a transaction of its own; call it outside one.")
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # First statement of the transaction: every later read sees this one snapshot.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # SQLite: the transaction (BEGIN IMMEDIATE, settings) already holds a snapshot
            # of the WAL; writers wait for it (busy timeout) until the backup ends.
            cursor.execute("SELECT 1")
        return self

    def __exit__(self, *exc) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(*exc)


def dump(
    write: Callable[[dict[str, Any]], None],
    *,
    models_to_dump: list[type[models.Model]],
    base_manifest: dict[str, Any] | None = None,
    since: datetime.datetime | None = None,
    include_files: bool = False,
) -> dict[str, Any]:
    """Write every section (inside an open ``Snapshot``); return the manifest.

    With ``include_files``, a section's rows are followed by the files their FileFields
    name (read from each field's storage), so a restore puts them back."""
    manifest: dict[str, Any] = {}
    for model in models_to_dump:
        label = model._meta.label_lower
        mode = _mode(model, base_manifest)
        queryset = model._base_manager.order_by("pk")
        entry: dict[str, Any] = {"mode": mode, "count": queryset.count()}
        section: dict[str, Any] = {"section": label, "mode": mode}
        rows = queryset
        if mode == "changed":
            section["present"] = [
                _jsonable_pk(pk) for pk in queryset.values_list("pk", flat=True).iterator()
            ]
            rows = queryset.filter(updated_at__gte=since - CHANGE_SLACK)
        if model._meta.label_lower in APPEND_ONLY and isinstance(model._meta.pk, models.AutoField):
            touched, watermark = APPEND_ONLY[label]
            bounds = queryset.aggregate(low=models.Min("pk"), high=models.Max("pk"))
            entry["min_pk"], entry["max_pk"] = bounds["low"], bounds["high"]
            if watermark:
                entry[f"max_{watermark}"] = queryset.aggregate(m=models.Max(watermark))["m"]
            if mode == "appended":
                section["min_pk"] = bounds["low"]
                previous = base_manifest[label]
                section["gaps"] = _gaps(model, bounds["low"], previous.get("max_pk"))
                rows = queryset.filter(
                    models.Q(pk__gt=previous.get("max_pk") or 0) | touched(previous, since)
                )
        if connection.vendor == "postgresql" and entry["count"] >= COPY_MIN_ROWS:
            section["format"] = entry["format"] = "copy"
            section["columns"] = [f.column for f in model._meta.concrete_fields]
            write(section)
            written = _dump_copy(write, model, rows)
        else:
            write(section)
            written = 0
            for batch in _batches(rows.iterator(chunk_size=BATCH)):
                for record in serializers.serialize("python", batch, fields=_field_names(model)):
                    write(record)
                    written += 1
        entry["rows"] = written
        if include_files and file_fields(model):
            entry["files"], entry["files_missing"] = _dump_files(write, model, rows)
        manifest[label] = entry
    return manifest


def _gaps(model: type[models.Model], low: int | None, high: int | None) -> list[list[int]]:
    """The id ranges within [low, high] (the base's ids) that hold no row now: rows deleted
    since the base (usage events going with their user), replayed by a restore."""
    if low is None or high is None or low > high:
        return []
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT prev + 1, id - 1 FROM (SELECT {pk} AS id, LAG({pk}) OVER (ORDER BY {pk}) "  # noqa: S608
            f"AS prev FROM {table} WHERE {pk} >= %s AND {pk} <= %s) AS ids WHERE id > prev + 1",
            [low, high],
        )
        gaps = [[start, end] for start, end in cursor.fetchall()]
        cursor.execute(f"SELECT MAX({pk}) FROM {table} WHERE {pk} <= %s", [high])  # noqa: S608
        last = cursor.fetchone()[0]
    if last is not None and last < high:
        gaps.append([last + 1, high])
    return gaps


def _dump_copy(
    write: Callable[[dict[str, Any]], None], model: type[models.Model], rows: models.QuerySet
) -> int:
    """The rows as PostgreSQL's COPY text, in records of about ``COPY_CHUNK`` characters
    that each end at the end of a row; returns the number of rows."""
    columns = [f.attname for f in model._meta.concrete_fields]
    sql, params = rows.order_by().values_list(*columns).query.sql_with_params()
    written, size, pending = 0, 0, []
    with connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
        for data in copy:  # one row at a time
            pending.append(bytes(data))
            size += len(data)
            if size >= COPY_CHUNK:
                text = b"".join(pending)
                written += text.count(b"\n")
                write({"copy": text.decode()})
                pending, size = [], 0
    if pending:
        text = b"".join(pending)
        written += text.count(b"\n")
        write({"copy": text.decode()})
    return written


def file_fields(model: type[models.Model]) -> list[models.FileField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]


def _dump_files(
    write: Callable[[dict[str, Any]], None], model: type[models.Model], rows: models.QuerySet
) -> tuple[int, list[str]]:
    fields = file_fields(model)
    written, missing = 0, []
    for names in rows.values_list(*[f.attname for f in fields]).iterator(chunk_size=BATCH):
        for field, name in zip(fields, names, strict=True):
            if not name:
                continue
            try:
                with field.storage.open(name, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                missing.append(name)  # the row names a file its storage no longer has
                continue
            write({"file": name, "field": field.name, "data": base64.b64encode(data).decode()})
            written += 1
    return written, missing[:100]


def _put_file(storage: Any, name: str, data: bytes) -> None:
    if storage.exists(name):
        storage.delete(name)
    storage.save(name, ContentFile(data, name=name))


def _jsonable_pk(pk: Any) -> Any:
    return pk if isinstance(pk, int | str) else str(pk)


def _batches(rows: Iterator[models.Model]) -> Iterator[list[models.Model]]:
    batch: list[models.Model] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Restore ---------------------------------------------------------------------------------


def _delete(model: type[models.Model], where: str = "", params: Iterable[Any] = ()) -> None:
    quote = connection.ops.quote_name
    sql = f"DELETE FROM {quote(model._meta.db_table)}"  # noqa: S608 - names from the models
    if where:
        sql += f" WHERE {where.format(pk=quote(model._meta.pk.column))}"
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))


def _delete_pks(model: type[models.Model], pks: list[Any]) -> None:
    for start in range(0, len(pks), 500):
        chunk = pks[start : start + 500]
        placeholders = ", ".join(["%s"] * len(chunk))
        values = [model._meta.pk.get_db_prep_value(pk, connection) for pk in chunk]
        _delete(model, f"{{pk}} IN ({placeholders})", values)


class _Section:
    def __init__(self, record: dict[str, Any]):
        self.model = django_apps.get_model(record["section"])
        self.mode = record["mode"]
        self.record = record
        self.pending: list[dict[str, Any]] = []
        self.stamps_itself = any(
            getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            for f in self.model._meta.concrete_fields
        )
        self.columns: list[str] | None = None
        if record.get("format", "json") == "copy":
            self.columns = list(record["columns"])
        elif record.get("format", "json") != "json":
            raise RestoreError(f"{record['section']}: unknown section format {record['format']!r}.")
        self._copy: Any = None
        self._staging = ""

    def begin(self) -> None:
        model = self.model
        if self.columns is not None and connection.vendor != "postgresql":
            raise RestoreError(
                f"{model._meta.label_lower} was saved with PostgreSQL's COPY: this backup "
                "restores into PostgreSQL only."
            )
        if self.mode == "whole":
            _delete(model)
        elif self.mode == "changed":
            present = {model._meta.pk.to_python(pk) for pk in self.record["present"]}
            stored = model._base_manager.values_list("pk", flat=True)
            _delete_pks(model, [pk for pk in stored if pk not in present])
        elif self.mode == "appended" and self.record.get("min_pk") is not None:
            _delete(model, "{pk} < %s", [self.record["min_pk"]])
            gaps = self.record.get("gaps") or []
            for start in range(0, len(gaps), 200):
                chunk = gaps[start : start + 200]
                where = " OR ".join(["{pk} BETWEEN %s AND %s"] * len(chunk))
                _delete(model, where, [bound for gap in chunk for bound in gap])

    def add(self, record: dict[str, Any], stats: dict[str, int]) -> None:
        if "copy" in record and self.columns is not None:
            if self._copy is None:
                self._open_copy()
            self._copy[1].write(record["copy"])
            return
        if "file" in record:
            field = {f.name: f for f in file_fields(self.model)}[record["field"]]
            data = base64.b64decode(record["data"])
            # Written once the restore commits: a rolled-back restore (the proof) writes none.
            transaction.on_commit(partial(_put_file, field.storage, record["file"], data))
            stats["files"] = stats.get("files", 0) + 1
            return
        self.pending.append(record)
        if len(self.pending) >= BATCH:
            self.flush()

    def _open_copy(self) -> None:
        quote = connection.ops.quote_name
        table = self.model._meta.db_table
        target = table
        cursor = connection.cursor()
        if self.mode != "whole":
            # The rows replace those with their primary keys: staged, then swapped in.
            self._staging = target = f"restore_{table}"[:63]
            cursor.execute(f"CREATE TEMPORARY TABLE {quote(target)} (LIKE {quote(table)})")
        else:
            cursor.execute("SELECT 1")  # the ignored triggers are set for the transaction
        columns = ", ".join(quote(c) for c in self.columns or [])
        manager = cursor.copy(f"COPY {quote(target)} ({columns}) FROM STDIN")
        self._copy = (cursor, manager.__enter__(), manager)

    def abort(self, exc: BaseException) -> None:
        """Leave the COPY (the server discards it) so the transaction can roll back."""
        if self._copy is not None:
            cursor, _, manager = self._copy
            self._copy = None
            try:
                manager.__exit__(type(exc), exc, exc.__traceback__)
            finally:
                cursor.close()

    def _finish_copy(self) -> None:
        cursor, _, manager = self._copy
        self._copy = None
        try:
            manager.__exit__(None, None, None)
            if self._staging:
                quote = connection.ops.quote_name
                table, pk = quote(self.model._meta.db_table), quote(self.model._meta.pk.column)
                staging = quote(self._staging)
                columns = ", ".join(quote(c) for c in self.columns or [])
                cursor.execute(
                    f"DELETE FROM {table} WHERE {pk} IN (SELECT {pk} FROM {staging})"  # noqa: S608
                )
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}"  # noqa: S608
                )
                cursor.execute(f"DROP TABLE {staging}")
        finally:
            cursor.close()

    def flush(self) -> None:
        if self._copy is not None:
            self._finish_copy()
        if not self.pending:
            return
        items = list(serializers.deserialize("python", self.pending, ignorenonexistent=True))
        self.pending = []
        if self.mode != "whole":
            _delete_pks(self.model, [item.object.pk for item in items])
        if self.stamps_itself:
            # bulk_create would stamp auto_now/auto_now_add fields with the time of the
            # restore; a raw save (what loaddata does) writes the values as they were.
            for item in items:
                item.save(force_insert=True)
        else:
            self.model._base_manager.bulk_create([i.object for i in items], batch_size=BATCH)


def load(
    chains: list[Iterator[dict[str, Any]]], stats: dict[str, int] | None = None
) -> set[type[models.Model]]:
    """Write each backup's records in order (base first) into the default database, inside
    the caller's transaction; return the models written. Files go to their storages when
    that transaction commits; ``stats["files"]`` counts them."""
    stats = {} if stats is None else stats
    touched: set[type[models.Model]] = set()
    triggers = pgtrigger.ignore(*AUDIT_TRIGGERS) if connection.vendor == "postgresql" else None
    with triggers or nullcontext():
        for records in chains:
            section: _Section | None = None
            try:
                for record in records:
                    if "section" in record:
                        if section is not None:
                            section.flush()
                        section = _Section(record)
                        section.begin()
                        touched.add(section.model)
                    elif section is not None:
                        section.add(record, stats)
                if section is not None:
                    section.flush()
            except BaseException as exc:
                if section is not None:
                    section.abort(exc)
                raise
    statements = connection.ops.sequence_reset_sql(no_style(), list(touched))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
    return touched


def check_constraints(models_written: Iterable[type[models.Model]]) -> None:
    """Every foreign key of the restored tables points at a row (deferred checks, now)."""
    connection.check_constraints(table_names=[m._meta.db_table for m in models_written])


def counts(labels: Iterable[str]) -> dict[str, int]:
    return {label: django_apps.get_model(label)._base_manager.count() for label in sorted(labels)}
