"""Write side of the audit log.

``record`` is the one function every app calls: a plain INSERT in the caller's transaction,
never waiting for anything. ``events_seal`` (the sealer, run by Celery beat) links committed
events into the hash chain afterwards; ``events_prune`` (retention) removes the oldest sealed
events and moves the chain's checkpoint forward.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, models, transaction
from django.utils import timezone

from audit.chain import GENESIS, SEALED_FIELDS, compute_seal
from audit.masking import mask
from audit.models import AuditChain, AuditEvent
from audit.personal import protect
from audit.sql import postgresql as partitions_sql
from config.client_ip import client_ip
from config.request_context import current_request_id

logger = logging.getLogger("roster.audit")


def describe_actor(actor: Any, request=None) -> tuple[str, str, str, dict]:
    """(type, id, display, extra metadata) for a user, an API key, or nobody."""
    auth = getattr(request, "auth", None) if request is not None else None
    api_key = getattr(auth, "api_key", None)
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            actor = user
    if actor is None:
        return (
            AuditEvent.ActorType.SYSTEM if request is None else AuditEvent.ActorType.ANONYMOUS,
            "",
            "",
            {},
        )
    if getattr(actor, "_audit_actor_type", None) == "api_key":
        return AuditEvent.ActorType.API_KEY, str(actor.pk), str(actor), {}
    extra = {}
    if api_key is not None:
        extra = {"via": "api_key", "api_key_id": str(api_key.pk)}
    impersonator = getattr(request, "impersonator", None) if request is not None else None
    if impersonator is not None and impersonator is not actor:
        extra["impersonator_id"] = str(impersonator.pk)
        extra["impersonator"] = getattr(impersonator, "email", "") or str(impersonator)
    display = getattr(actor, "email", "") or str(actor)
    return AuditEvent.ActorType.USER, str(actor.pk), display, extra


def describe_target(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        return str(target[0]), str(target[1])
    if isinstance(target, models.Model):
        return target._meta.model_name, str(target.pk)
    return type(target).__name__.lower(), str(target)


def record(
    *,
    action: str,
    actor: Any = None,
    target: Any = None,
    request=None,
    changes: dict | None = None,
    metadata: dict | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> AuditEvent:
    """Append one event. Runs inside the caller's transaction, so it commits with the change.

    ``actor`` is a user (or an API key model), or None for the system / an anonymous caller;
    ``target`` a model instance or a ``(type, id)`` pair. Secrets are masked before writing;
    then personal values are encrypted under the key of the person they are about
    (``audit.personal``), so that erasing the person leaves nothing readable behind.
    """
    actor_type, actor_id, actor_display, via = describe_actor(actor, request)
    target_type, target_id = describe_target(target)
    meta = {**via, **(metadata or {})}
    headers = getattr(request, "META", {}) if request is not None else {}
    request_id = getattr(request, "request_id", None) or current_request_id() or ""
    if request is not None and not request_id:
        request_id = getattr(getattr(request, "_request", None), "request_id", "") or ""
    # Masking first: a secret is dropped, never encrypted.
    actor_display, stored_changes, stored_metadata = protect(
        actor_type=actor_type,
        actor_id=actor_id,
        actor_display=actor_display,
        target_type=target_type,
        target_id=target_id,
        changes=mask(changes or {}),
        metadata=mask(meta),
    )
    return _insert(
        uuid=uuid.uuid4(),
        occurred_at=timezone.now(),
        action=action,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_display=actor_display[:255],
        target_type=target_type,
        target_id=target_id,
        ip=ip or client_ip(request),
        user_agent=(user_agent if user_agent is not None else headers.get("HTTP_USER_AGENT", ""))[
            :512
        ],
        request_id=request_id[:128],
        changes=stored_changes,
        metadata=stored_metadata,
        seal="",
    )


# Every audited request pays for this write, so it is one INSERT whose statement is built
# once per database vendor: on a request's path the ORM's save machinery (compiling the
# statement, signals, the model's save steps) cost more than PostgreSQL's work for the row
# (bench/scenarios/audit.py). Values still go through each field's own conversion, and the
# table's triggers apply as to any INSERT. The columns: every sealed field, and the seal
# itself, empty (a row enters unsealed).
_COLUMNS = (*SEALED_FIELDS, "seal")
_insert_statements: dict[str, tuple[str, bool]] = {}


def _insert_statement() -> tuple[str, bool]:
    """(the INSERT for ``_COLUMNS``, whether it returns the new id itself)."""
    cached = _insert_statements.get(connection.vendor)
    if cached is None:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(AuditEvent._meta.get_field(n).column) for n in _COLUMNS)
        returning = connection.features.can_return_columns_from_insert
        sql = (
            f"INSERT INTO {quote(AuditEvent._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
        )
        cached = (sql + (f" RETURNING {quote('id')}" if returning else ""), returning)
        _insert_statements[connection.vendor] = cached
    return cached


def _insert(**values: Any) -> AuditEvent:
    sql, returning = _insert_statement()
    fields = AuditEvent._meta
    params = [fields.get_field(n).get_db_prep_save(values[n], connection) for n in _COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    event = AuditEvent(id=pk, **values)
    event._state.adding = False
    event._state.db = connection.alias
    return event


def diff(before: dict, after: dict) -> dict:
    """``{field: [old, new]}`` for the fields that changed."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


# --- Sealing -------------------------------------------------------------------------------

SEAL_BATCH_SIZE = 2000


def _chain_row_for_update(*, skip_locked: bool) -> AuditChain | None:
    """The chain row, locked for this transaction; None if another sealer holds it.

    The lock is on this one bookkeeping row, which request handlers never touch: writers
    of events are never blocked, and two sealers never interleave.
    """
    AuditChain.objects.get_or_create(pk=1)
    query = AuditChain.objects.filter(pk=1)
    if connection.features.has_select_for_update:
        query = query.select_for_update(skip_locked=skip_locked)
    return query.first()


def _write_seals(links: list[tuple[int, int, str]]) -> None:
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids, seqs, seals = zip(*links, strict=True)
            # ``seq IS NULL`` finds the rows through each partition's small index of unsealed
            # events; by id alone PostgreSQL would hash the whole partitioned table.
            cursor.execute(
                f"UPDATE {table} AS e SET seq = v.seq, seal = v.seal "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS v(id, seq, seal) "
                "WHERE e.id = v.id AND e.seq IS NULL",
                [list(ids), list(seqs), list(seals)],
            )
            if cursor.rowcount != len(links):  # never under the chain row's lock
                raise RuntimeError("audit events changed while being sealed")
        else:
            cursor.executemany(
                f"UPDATE {table} SET seq = %s, seal = %s WHERE id = %s",  # noqa: S608
                [(seq, seal, pk) for pk, seq, seal in links],
            )


def _seal_batch(batch_size: int) -> int:
    from audit.selectors import chain_rows

    with transaction.atomic():
        chain = _chain_row_for_update(skip_locked=True)
        if chain is None:
            return 0
        rows = chain_rows(unsealed=True, limit=batch_size)
        if not rows:
            return 0
        seq = chain.head_seq
        previous = chain.head_seal or GENESIS
        links = []
        for row in rows:
            seq += 1
            previous = compute_seal(row, seq, previous)
            links.append((row["id"], seq, previous))
        _write_seals(links)
        AuditChain.objects.filter(pk=1).update(
            head_seq=seq, head_seal=previous, sealed_at=timezone.now()
        )
    # The head in the logs is an anchor kept outside the database.
    logger.info("audit events sealed: %d, chain head %d %s", len(links), seq, previous)
    return len(links)


def events_seal(*, batch_size: int = SEAL_BATCH_SIZE, time_budget: float = 50.0) -> int:
    """Seal committed, unsealed events in id order; returns how many were sealed.

    Single-flight: a second sealer finds the chain row locked and returns 0 at once.
    Each batch commits on its own, so a large backlog never holds a long transaction.
    """
    sealed = 0
    deadline = time.monotonic() + time_budget
    while time.monotonic() < deadline:
        count = _seal_batch(batch_size)
        sealed += count
        if count < batch_size:
            break
    return sealed


# --- Retention -----------------------------------------------------------------------------

PRUNE_BATCH_SIZE = 5000


@contextmanager
def retention_deletes():
    """Inside: the trigger lets this transaction delete sealed events. Reset on the way out,
    so a caller's surrounding transaction never keeps the permission."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('roster.audit_retention', 'on', true)")
        try:
            yield
        finally:
            cursor.execute("SELECT set_config('roster.audit_retention', 'off', true)")


# Months whose partitions exist ahead of the current one (PostgreSQL): the beat task can
# fail for weeks before an event would meet a month without its partition (and then it lands
# in the default partition, still recorded).
PARTITION_MONTHS_AHEAD = 3


def events_partitions_ensure(*, now: datetime.datetime | None = None) -> list[str]:
    """Create the events partitions of the current month and the next few (PostgreSQL;
    nothing on SQLite); the names created. Safe to run twice or concurrently."""
    if connection.vendor != "postgresql":
        return []
    return partitions_sql.ensure_partitions(now or timezone.now(), PARTITION_MONTHS_AHEAD)


def _drop_one_partition(name: str, start, end, cutoff: datetime.datetime) -> int | None:
    """Drop one expired partition as the removal of a prefix of the chain; the number of
    events removed, or None when it cannot go whole (retention goes on row by row).

    It goes only if every event in it is sealed and the links from the checkpoint to its
    last link all occurred before the cutoff: exactly the links row-by-row deletion would
    remove first. The few of those links stored in another month's partition (an event
    sealed among its neighbours of the next month) are deleted as rows; then the partition
    is dropped and the checkpoint moves to its last link, in one transaction.
    """
    sql = partitions_sql
    with transaction.atomic():
        chain = _chain_row_for_update(skip_locked=False)
        rows, first_seq, last_seq, unsealed = sql.partition_summary(name)
        if rows == 0:
            sql.drop_partition(name)
            return 0
        if unsealed or first_seq <= chain.pruned_seq:
            return None
        if sql.link_at_or_after(chain.pruned_seq, last_seq, cutoff):
            return None
        with retention_deletes():
            others = sql.delete_links_outside(chain.pruned_seq, last_seq, start, end)
        last_seal = sql.seal_of(name, last_seq)
        sql.drop_partition(name)
        AuditChain.objects.filter(pk=1).update(
            pruned_seq=last_seq,
            pruned_seal=last_seal,
            pruned_total=models.F("pruned_total") + rows + others,
            pruned_at=timezone.now(),
        )
    logger.info("audit events partition %s dropped: %d events, checkpoint %d", name, rows, last_seq)
    return rows + others


def _drop_expired_partitions(cutoff: datetime.datetime) -> int:
    """Drop the monthly partitions that end by ``cutoff``, oldest first, while each can go
    whole (PostgreSQL); the number of events removed with them."""
    removed = 0
    for name, start, end in partitions_sql.partitions():
        if end > cutoff:
            break
        try:
            count = _drop_one_partition(name, start, end, cutoff)
        except OperationalError as exc:  # e.g. lock_not_available: the next run drops it
            logger.warning("audit events partition %s not dropped: %s", name, exc)
            break
        if count is None:
            break
        removed += count
    return removed


def events_prune(
    *, now: datetime.datetime | None = None, days: int | None = None, batch_size: int = 0
) -> int:
    """Delete sealed events older than the retention period, oldest link first.

    Only a prefix of the chain is ever removed, and the seal of its last link becomes the
    checkpoint verification starts from, so what remains still verifies end to end.
    Unsealed events are never removed. Returns how many events were deleted.

    On PostgreSQL whole monthly partitions past the cutoff go first, each a drop that moves
    the checkpoint as deleting its rows would; the rest goes row by row, as on SQLite.
    """
    days = settings.ROSTER["AUDIT_RETENTION_DAYS"] if days is None else days
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    batch_size = batch_size or PRUNE_BATCH_SIZE
    table = AuditEvent._meta.db_table
    deleted = _drop_expired_partitions(cutoff) if connection.vendor == "postgresql" else 0
    while True:
        with transaction.atomic():
            chain = _chain_row_for_update(skip_locked=False)
            batch = list(
                AuditEvent.objects.filter(seq__gt=chain.pruned_seq)
                .order_by("seq")
                .values_list("seq", "seal", "occurred_at")[:batch_size]
            )
            prefix = []
            for row in batch:
                if row[2] >= cutoff:
                    break
                prefix.append(row)
            if not prefix:
                break
            last_seq, last_seal, _ = prefix[-1]
            with retention_deletes(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE seq > %s AND seq <= %s",  # noqa: S608
                    [chain.pruned_seq, last_seq],
                )
                count = cursor.rowcount
            AuditChain.objects.filter(pk=1).update(
                pruned_seq=last_seq,
                pruned_seal=last_seal,
                pruned_total=models.F("pruned_total") + count,
                pruned_at=timezone.now(),
            )
            deleted += count
        if len(prefix) < len(batch) or len(batch) < batch_size:
            break
    if deleted:
        logger.info("audit events pruned: %d older than %s", deleted, cutoff.isoformat())
    return deleted
