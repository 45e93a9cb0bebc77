"""Read side of the audit log: who may see which events, and the tamper-evidence check."""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from audit.chain import GENESIS, SEALED_FIELDS, compute_seal
from audit.models import AuditChain, AuditEvent
from config.exports import spreadsheet_cell, spreadsheet_uncell


def events_visible_to(user) -> QuerySet[AuditEvent]:
    """Admins see every event; anyone else the events where they are actor or target."""
    if user is None or not user.is_authenticated:
        return AuditEvent.objects.none()
    if "admin" in user.roles:
        return AuditEvent.objects.all()
    return events_of(user)


def events_of(user) -> QuerySet[AuditEvent]:
    """The user's own security log: events where they are the actor or the target."""
    return AuditEvent.objects.involving(str(user.pk))


# --- Newest first by (occurred_at, id) -----------------------------------------------------
#
# Lists of events page by (occurred_at, id), never by id alone: on PostgreSQL the log is
# partitioned by month of occurred_at, and a position's time lets the planner leave out
# every month past it (an id says nothing of the month). The plain ``occurred_at`` bound
# next to the pair is what it prunes by; the pair is what orders.

NEWEST_FIRST = ("-occurred_at", "-id")
OLDEST_FIRST = ("occurred_at", "id")


def older_than(
    queryset: QuerySet[AuditEvent], occurred_at: datetime.datetime, event_id: int
) -> QuerySet[AuditEvent]:
    """The events after (occurred_at, event_id) in newest-first order."""
    return queryset.filter(
        Q(occurred_at__lt=occurred_at) | Q(occurred_at=occurred_at, id__lt=event_id),
        occurred_at__lte=occurred_at,
    )


def newer_than(
    queryset: QuerySet[AuditEvent], occurred_at: datetime.datetime, event_id: int
) -> QuerySet[AuditEvent]:
    """The events after (occurred_at, event_id) in oldest-first order."""
    return queryset.filter(
        Q(occurred_at__gt=occurred_at) | Q(occurred_at=occurred_at, id__gt=event_id),
        occurred_at__gte=occurred_at,
    )


def occurred_at_of(queryset: QuerySet[AuditEvent], event_id: int) -> datetime.datetime | None:
    """When the event ``event_id`` of ``queryset`` occurred; None when it holds no such event
    (pruned, or not the reader's)."""
    return queryset.filter(id=event_id).values_list("occurred_at", flat=True).first()


def security_log_page(user, *, before: str, size: int) -> tuple[list[AuditEvent], int | None]:
    """A page of the user's own events, newest first, and the id to ask for the next page
    with (None on the last page). ``before``: that id from the previous page ("" or junk:
    the first page). The id is placed in time by a lookup among the user's events; an event
    gone since (pruned) still bounds the page by id, as the page always did."""
    events = events_of(user)
    if before.isdigit() and len(before) < 19:
        event_id = int(before)
        occurred_at = occurred_at_of(events, event_id)
        if occurred_at is not None:
            events = older_than(events, occurred_at, event_id)
        else:
            events = events.filter(id__lt=event_id)
    rows = list(events.order_by(*NEWEST_FIRST)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, rows[-1].id if more else None


def filter_action(queryset: QuerySet[AuditEvent], value: str) -> QuerySet[AuditEvent]:
    """``auth.login.failed`` matches exactly; ``auth.`` or ``auth.*`` match the prefix."""
    if value.endswith("*"):
        return queryset.filter(action__startswith=value[:-1])
    if value.endswith("."):
        return queryset.filter(action__startswith=value)
    return queryset.filter(action=value)


def filter_target(queryset: QuerySet[AuditEvent], value: str) -> QuerySet[AuditEvent]:
    """``<id>`` or ``<type>:<id>`` (e.g. ``slot:2f1c…``)."""
    kind, sep, ident = value.partition(":")
    if sep and kind and ident:
        return queryset.filter(target_type=kind, target_id=ident)
    return queryset.filter(target_id=value)


# --- Tamper evidence -----------------------------------------------------------------------

_CHAIN_COLUMNS = ("id", "seq", "seal", *SEALED_FIELDS)


def chain_rows(*, unsealed: bool = False, after_seq: int = 0, limit: int) -> list[dict[str, Any]]:
    """Rows as the chain sees them: unsealed ones in id order, or sealed ones after a seq.

    On PostgreSQL a plain cursor (the sealer and the verifier read every row of the log,
    and the ORM's per-row machinery would be most of their cost); it yields the very values
    the ORM would (UUID, aware UTC datetime, decoded JSON). Elsewhere the ORM.
    """
    if connection.vendor != "postgresql":
        query = (
            AuditEvent.objects.filter(seq__isnull=True).order_by("id")
            if unsealed
            else AuditEvent.objects.filter(seq__gt=after_seq).order_by("seq")
        )
        return list(query.values(*_CHAIN_COLUMNS)[:limit])
    where, order, params = (
        ("seq IS NULL", "id", [limit]) if unsealed else ("seq > %s", "seq", [after_seq, limit])
    )
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_CHAIN_COLUMNS)} FROM {table} "  # noqa: S608
            f"WHERE {where} ORDER BY {order} LIMIT %s",
            params,
        )
        fetched = cursor.fetchall()
    rows = []
    for values in fetched:
        row = dict(zip(_CHAIN_COLUMNS, values, strict=True))
        for name in ("changes", "metadata"):
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        rows.append(row)
    return rows


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_broken: dict[str, Any] | None = None
    unsealed: int = 0
    checkpoint_seq: int = 0
    head_seq: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "checked": self.checked,
            "unsealed": self.unsealed,
            "checkpoint_seq": self.checkpoint_seq,
            "head_seq": self.head_seq,
        }
        if self.first_broken is not None:
            data["first_broken"] = self.first_broken
        return data


def _broken(seq: int, reason: str, event_uuid: Any = None) -> dict[str, Any]:
    return {"seq": seq, "id": str(event_uuid) if event_uuid else None, "reason": reason}


def _walk_chain(after_seq: int, chunk_size: int):
    while True:
        rows = chain_rows(after_seq=after_seq, limit=chunk_size)
        yield from rows
        if len(rows) < chunk_size:
            return
        after_seq = rows[-1]["seq"]


def chain_verify(
    *, from_seq: int | None = None, limit: int | None = None, chunk_size: int = 5000
) -> VerifyResult:
    """Recompute the chain from the retention checkpoint and report the first break.

    Reasons: ``seal_mismatch`` (a sealed field was edited, or the row was moved to another
    place in the chain), ``missing`` (a link was deleted: a gap in ``seq``, or links at the
    end that the chain head says were sealed), ``head_mismatch`` (the last link differs from
    the recorded head).

    ``from_seq`` / ``limit`` check a window only (a very long log in several requests): it
    starts from the stored seal of link ``from_seq - 1``, taken on trust, and the end-of-chain
    checks run only when the window reaches the end.
    """
    chain = AuditChain.objects.filter(pk=1).first() or AuditChain(pk=1)
    result = VerifyResult(
        ok=True,
        checked=0,
        checkpoint_seq=chain.pruned_seq,
        head_seq=chain.head_seq,
        unsealed=AuditEvent.objects.filter(seq__isnull=True).count(),
    )
    previous_seal = chain.pruned_seal if chain.pruned_seq else GENESIS
    after = chain.pruned_seq
    if from_seq is not None and from_seq - 1 > chain.pruned_seq:
        after = from_seq - 1
        stored = AuditEvent.objects.filter(seq=after).values_list("seal", flat=True).first()
        if stored is None:
            result.ok = False
            result.first_broken = _broken(after, "missing")
            return result
        previous_seal = stored
    expected = after + 1
    for row in _walk_chain(after, chunk_size):
        if limit is not None and result.checked >= limit:
            return result
        if row["seq"] != expected:
            result.ok = False
            result.first_broken = _broken(expected, "missing")
            return result
        if compute_seal(row, row["seq"], previous_seal) != row["seal"]:
            result.ok = False
            result.first_broken = _broken(row["seq"], "seal_mismatch", row["uuid"])
            return result
        previous_seal = row["seal"]
        expected += 1
        result.checked += 1
    last = expected - 1
    if last < chain.head_seq:
        result.ok = False
        result.first_broken = _broken(expected, "missing")
    elif chain.head_seq and last == chain.head_seq and previous_seal != chain.head_seal:
        result.ok = False
        result.first_broken = _broken(last, "head_mismatch")
    return result


# --- CSV export ----------------------------------------------------------------------------

EXPORT_COLUMNS = ("seq", "seal", "prev_seal", *SEALED_FIELDS)
# The sealed fields that hold encrypted personal values (``audit.personal``). With
# ``revealed=True`` their columns hold what a person reads (decrypted, or ``[erased]``), and
# their stored form, over which the seals were computed, follows in SEALED_COPY_COLUMNS.
PERSONAL_COLUMNS = ("actor_display", "changes", "metadata")
SEALED_COPY_COLUMNS = tuple(f"{name}_sealed" for name in PERSONAL_COLUMNS)


def export_rows(queryset: QuerySet[AuditEvent], *, chunk_size: int = 2000, revealed: bool = False):
    """Rows for the CSV export: every sealed field, plus ``seq``, ``seal`` and the seal of
    the previous link, so each row can be checked on its own and consecutive rows as a chain.

    Without ``revealed`` the columns hold what is stored (personal values encrypted); with
    it, the personal columns are readable and SEALED_COPY_COLUMNS carry the stored form, from
    which ``csv_verify`` recomputes the seals. Every text cell is spreadsheet-safe
    (``config.exports``).
    """
    from audit.personal import reveal_many

    chain = AuditChain.objects.filter(pk=1).first()
    ordered = queryset.order_by("seq", "id").values("seq", "seal", *SEALED_FIELDS)
    batch: list[dict] = []

    def as_json(value) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    def flush(batch: list[dict]):
        wanted = {r["seq"] - 1 for r in batch if r["seq"]}
        previous = dict(AuditEvent.objects.filter(seq__in=wanted).values_list("seq", "seal"))
        previous[0] = GENESIS
        if chain is not None and chain.pruned_seq:
            previous[chain.pruned_seq] = chain.pruned_seal
        shown = reveal_many(batch) if revealed else [None] * len(batch)
        for r, readable in zip(batch, shown, strict=True):
            stored = (r["actor_display"], r["changes"], r["metadata"])
            display, changes, metadata = stored if readable is None else readable
            copies = []
            if readable is not None:
                copies = [spreadsheet_cell(stored[0]), as_json(stored[1]), as_json(stored[2])]
            yield [
                r["seq"] if r["seq"] is not None else "",
                r["seal"],
                previous.get(r["seq"] - 1, "") if r["seq"] else "",
                str(r["uuid"]),
                _export_time(r["occurred_at"]),
                *(spreadsheet_cell(r[name]) for name in ("action", "actor_type", "actor_id")),
                spreadsheet_cell(display),
                spreadsheet_cell(r["target_type"]),
                spreadsheet_cell(r["target_id"]),
                r["ip"] or "",
                spreadsheet_cell(r["user_agent"]),
                spreadsheet_cell(r["request_id"]),
                as_json(changes),
                as_json(metadata),
                *copies,
            ]

    for row in ordered.iterator(chunk_size=chunk_size):
        batch.append(row)
        if len(batch) >= chunk_size:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)


def _readable_matches(readable: Any, stored: Any) -> bool:
    """Whether a readable copy shows the stored value, every encrypted part aside."""
    from audit.personal import is_sealed

    if is_sealed(stored):
        return True
    if isinstance(stored, dict):
        return (
            isinstance(readable, dict)
            and readable.keys() == stored.keys()
            and all(_readable_matches(readable[k], v) for k, v in stored.items())
        )
    if isinstance(stored, list):
        return (
            isinstance(readable, list)
            and len(readable) == len(stored)
            and all(_readable_matches(a, b) for a, b in zip(readable, stored, strict=True))
        )
    return readable == stored


def _export_time(value: datetime.datetime) -> str:
    from audit.chain import format_time

    return format_time(value)


@dataclass
class CsvCheckResult:
    ok: bool
    rows: int
    sealed: int
    linked: int
    matched_database: int | None
    first_broken: dict[str, Any] | None = None

    def fail(self, **where: Any) -> None:
        """Mark the check failed at ``where`` (row, seq, reason)."""
        self.ok = False
        self.first_broken = where

    def as_dict(self) -> dict[str, Any]:
        data = {
            "ok": self.ok,
            "rows": self.rows,
            "sealed": self.sealed,
            "linked": self.linked,
            "matched_database": self.matched_database,
        }
        if self.first_broken is not None:
            data["first_broken"] = self.first_broken
        return data


def csv_verify(lines, *, against_database: bool = True) -> CsvCheckResult:
    """Check an exported CSV: each sealed row's seal recomputed from its own columns and
    ``prev_seal``; consecutive rows linked; and (optionally) each seal equal to the one the
    database holds for that ``seq`` (seals of pruned links are taken on trust).

    In a file with SEALED_COPY_COLUMNS the seal is computed from those, and the readable
    personal columns must show the same values wherever they were not encrypted
    (``readable_mismatch``). Files exported before those columns existed still check.
    """
    import csv

    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [c for c in EXPORT_COLUMNS if c not in header]
    if missing:
        return CsvCheckResult(
            False, 0, 0, 0, None, {"row": 0, "reason": f"missing columns: {missing}"}
        )
    copies = all(c in header for c in SEALED_COPY_COLUMNS)
    result = CsvCheckResult(True, 0, 0, 0, 0 if against_database else None)
    by_seq = _csv_check_rows(reader, result, copies=copies)
    if result.ok and against_database and by_seq:
        _csv_check_against_database(result, by_seq)
    return result


def _csv_row_event(row: dict, stored_in: dict[str, str]) -> tuple[int, dict, dict]:
    """A row's ``seq``, the event its seal covers, and its readable personal columns;
    ValueError or TypeError when a cell cannot be read."""
    seq = int(row["seq"])
    event = {name: spreadsheet_uncell(row[stored_in[name]]) for name in SEALED_FIELDS}
    event["uuid"] = str(uuid.UUID(event["uuid"]))
    event["ip"] = event["ip"] or None
    event["changes"] = json.loads(row[stored_in["changes"]])
    event["metadata"] = json.loads(row[stored_in["metadata"]])
    readable = {
        "actor_display": spreadsheet_uncell(row["actor_display"]),
        "changes": json.loads(row["changes"]),
        "metadata": json.loads(row["metadata"]),
    }
    return seq, event, readable


def _csv_check_rows(reader, result: CsvCheckResult, *, copies: bool) -> dict[int, str]:
    """Check every row's seal and its link to the row before; the seal of each ``seq``.
    Stops at the first broken row (``result.first_broken``)."""
    stored_in = {
        name: f"{name}_sealed" if copies and name in PERSONAL_COLUMNS else name
        for name in SEALED_FIELDS
    }
    last_seq, last_seal = None, None
    by_seq: dict[int, str] = {}
    for number, row in enumerate(reader, start=1):
        result.rows += 1
        if not row["seq"]:
            continue  # exported before it was sealed: nothing to check yet
        try:
            seq, event, readable = _csv_row_event(row, stored_in)
        except (ValueError, TypeError) as exc:
            result.fail(row=number, reason=f"unreadable: {exc}")
            return by_seq
        if copies and not all(_readable_matches(readable[n], event[n]) for n in readable):
            result.fail(row=number, seq=seq, reason="readable_mismatch")
            return by_seq
        result.sealed += 1
        if compute_seal(event, seq, row["prev_seal"]) != row["seal"]:
            result.fail(row=number, seq=seq, reason="seal_mismatch")
            return by_seq
        if last_seq is not None and seq == last_seq + 1:
            if row["prev_seal"] != last_seal:
                result.fail(row=number, seq=seq, reason="link_mismatch")
                return by_seq
            result.linked += 1
        last_seq, last_seal = seq, row["seal"]
        by_seq[seq] = row["seal"]
    return by_seq


def _csv_check_against_database(result: CsvCheckResult, by_seq: dict[int, str]) -> None:
    """Each seal equal to the database's for its ``seq``; a ``seq`` the database lacks is
    broken unless the chain was pruned past it."""
    stored: dict[int, str] = {}
    seqs = sorted(by_seq)
    for start in range(0, len(seqs), 5000):
        part = seqs[start : start + 5000]
        stored.update(AuditEvent.objects.filter(seq__in=part).values_list("seq", "seal"))
    chain = AuditChain.objects.filter(pk=1).first()
    pruned_through = chain.pruned_seq if chain else 0
    for seq in seqs:
        if seq in stored:
            if stored[seq] != by_seq[seq]:
                result.fail(seq=seq, reason="differs_from_database")
                return
            result.matched_database += 1
        elif seq > pruned_through:
            result.fail(seq=seq, reason="missing_from_database")
            return
    return result
