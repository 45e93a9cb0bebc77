from __future__ import annotations

import uuid

import pgtrigger
from django.db import models
from django.db.models.sql.where import AND


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove a recorded audit event."""


class _NotASealingUpdate(pgtrigger.Condition):
    """True for any UPDATE except the sealer's: ``seq``/``seal`` set once, nothing else."""

    def __init__(self):
        super().__init__(sql="-")

    def resolve(self, model) -> str:
        other_columns = pgtrigger.AnyChange(exclude=["seq", "seal"]).resolve(model)
        return f"(OLD.seq IS NOT NULL OR NEW.seq IS NULL OR NEW.seal = '' OR {other_columns})"


# The orderings a person's slice is merged in (the API and the security log page by time).
_MERGED_ORDERINGS = {
    ("-id",): (True, lambda e: e.pk),
    ("id",): (False, lambda e: e.pk),
    ("-occurred_at", "-id"): (True, lambda e: (e.occurred_at, e.pk)),
    ("occurred_at", "id"): (False, lambda e: (e.occurred_at, e.pk)),
}


def _involvement(user_id: str) -> models.Q:
    return models.Q(actor_id=user_id) | models.Q(target_id=user_id)


class AuditEventQuerySet(models.QuerySet):
    # Set by ``involving``: the user whose events these are, read as two merged index scans,
    # and where the OR of actor and target sits among the query's top-level conditions.
    _involving: str | None = None
    _involving_at: int | None = None

    def involving(self, user_id: str) -> AuditEventQuerySet:
        """Events where ``user_id`` is the actor or the target (a person's security log).

        Newest-first pages of an OR make PostgreSQL walk the whole log backwards along the
        primary key until it has found enough of this person's events, however old they
        are. A slice of this queryset ordered by id, or by (occurred_at, id), is read instead
        as two range scans, one on (actor_id, occurred_at, id) and one on (target_id,
        occurred_at, id), each limited to the slice, merged here. Each scan adds its own
        condition (actor, or target) to every condition of the queryset, so nobody else's
        event can come through either.
        """
        at = len(self.query.where.children)
        clone = self.filter(_involvement(user_id))
        clone._involving = user_id
        clone._involving_at = at
        return clone

    def _clone(self):
        clone = super()._clone()
        clone._involving = self._involving
        clone._involving_at = self._involving_at
        return clone

    def _combinator(self, other, combine):
        # An OR (or XOR) with another queryset is no longer "this person's events": read
        # through the plain query. (An AND keeps the person: each scan keeps the rest.)
        combined = combine(other)
        if combined is not self and combined is not other:  # (one side empty: the other)
            combined._involving = combined._involving_at = None
        return combined

    def __or__(self, other):
        return self._combinator(other, super().__or__)

    def __xor__(self, other):
        return self._combinator(other, super().__xor__)

    def _party(self, party: str) -> AuditEventQuerySet:
        """This queryset's rows where ``party`` (actor_id or target_id) is the person.

        The condition implies the OR, which is then dropped when it is still the one
        ``involving`` added: kept, it makes PostgreSQL estimate a handful of rows (it takes
        the two conditions as independent) and read every event of the person, in every
        partition, to sort them. Anything else in its place: the OR stays (same rows).
        """
        part = self.filter(**{party: self._involving})
        part._involving = None
        where = part.query.where
        at = self._involving_at
        if (
            at is not None
            and where.connector == AND
            and not where.negated
            and at < len(where.children)
            and where.children[at] == _involvement_node(self.model, self._involving)
        ):
            del where.children[at]
        return part

    def __getitem__(self, k):
        ordering = tuple(self.query.order_by) or tuple(self.model._meta.ordering)
        if (
            self._involving is None
            or self._result_cache is not None
            or self.query.is_sliced
            or self.query.combinator
            or self._iterable_class is not models.query.ModelIterable
            or not isinstance(k, slice)
            or k.stop is None
            or k.step is not None
            or ordering not in _MERGED_ORDERINGS
        ):
            return super().__getitem__(k)
        start, stop = k.start or 0, k.stop
        rows: dict[int, AuditEvent] = {}
        for party in ("actor_id", "target_id"):
            rows.update((event.pk, event) for event in self._party(party)[:stop])
        descending, key = _MERGED_ORDERINGS[ordering]
        merged = sorted(rows.values(), key=key, reverse=descending)
        return merged[start:stop]

    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only.")

    update.queryset_only = True
    delete.queryset_only = True


def _involvement_node(model, user_id: str):
    """The condition ``involving`` adds, as the query holds it (to recognise it)."""
    return model.objects.filter(_involvement(user_id)).query.where.children[0]


class AuditEvent(models.Model):
    """One thing that happened. Written once, never changed (see ``audit.services``)."""

    class ActorType(models.TextChoices):
        USER = "user"
        API_KEY = "api_key"
        SYSTEM = "system"
        ANONYMOUS = "anonymous"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    occurred_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=100)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    actor_display = models.CharField(max_length=255, blank=True, default="")
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Tamper evidence: filled once by the sealer, in seal order.
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    seal = models.CharField(max_length=64, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # varchar_pattern_ops (PostgreSQL) lets the prefix filter (``action=auth.``,
            # a LIKE 'auth.%') use the index too; other databases ignore the opclass.
            models.Index(
                fields=["action", "id"],
                name="audit_action_pattern_id",
                opclasses=["varchar_pattern_ops", "int8_ops"],
            ),
            # A person's (and a target's) events newest first, by (occurred_at, id): a time
            # bound prunes the monthly partitions, and each partition has its own index.
            models.Index(fields=["actor_id", "occurred_at", "id"], name="audit_actor_time"),
            models.Index(fields=["target_id", "occurred_at", "id"], name="audit_target_time"),
            models.Index(fields=["request_id"], name="audit_request_id"),
            # The sealer's work queue stays tiny however large the log grows.
            models.Index(
                fields=["id"], name="audit_unsealed", condition=models.Q(seq__isnull=True)
            ),
        ]
        triggers = [
            # Only the sealer may touch a row, once, to set seq and seal.
            pgtrigger.Protect(
                name="audit_no_update",
                operation=pgtrigger.Update,
                condition=_NotASealingUpdate(),
            ),
            # Only the retention path (SET LOCAL roster.audit_retention = 'on') may delete,
            # and only rows already in the chain.
            pgtrigger.Protect(
                name="audit_no_delete",
                operation=pgtrigger.Delete,
                condition=pgtrigger.Condition(
                    "OLD.seq IS NULL OR "
                    "COALESCE(current_setting('roster.audit_retention', true), '') <> 'on'"
                ),
            ),
            # A row enters unsealed: no writer can slip a forged link into the chain.
            pgtrigger.Protect(
                name="audit_insert_unsealed",
                operation=pgtrigger.Insert,
                condition=pgtrigger.Condition("NEW.seq IS NOT NULL OR NEW.seal <> ''"),
            ),
        ]

    def __str__(self) -> str:
        # Readers attach ``revealed`` (audit.personal.revealed_of); a stored personal value
        # is ciphertext, never shown: the actor's id stands in for it.
        from audit.personal import is_sealed

        revealed = getattr(self, "revealed", None)
        who = revealed.actor_display if revealed is not None else self.actor_display
        if is_sealed(who):
            who = self.actor_id
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} by {who or self.actor_type}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")


class AuditChain(models.Model):
    """The chain's bookkeeping, one row (pk=1), written only by the sealer and retention.

    ``head_*``: the last link sealed, so a deleted tail is detected. ``pruned_*``: the last
    link removed by retention (the checkpoint); verification starts from it.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    head_seq = models.BigIntegerField(default=0)
    head_seal = models.CharField(max_length=64, blank=True, default="")
    sealed_at = models.DateTimeField(null=True, blank=True)
    pruned_seq = models.BigIntegerField(default=0)
    pruned_seal = models.CharField(max_length=64, blank=True, default="")
    pruned_total = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_one")]

    def __str__(self) -> str:
        return f"audit chain head {self.head_seq}, checkpoint {self.pruned_seq}"


class SubjectKey(models.Model):
    """The key that encrypts one person's personal data in the audit log (crypto-shredding).

    An ordinary table, unlike the log itself: erasing a person deletes their key, and every
    value sealed under it becomes unreadable while the chain that holds it stays intact.
    """

    subject_id = models.CharField(max_length=64, unique=True)
    key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"audit key of {self.subject_id}"
