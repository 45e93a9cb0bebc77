"""Writing policies (platform admins and organizations' ``policies:manage`` holders; the
callers check who may) and the password history. Every change is audited in its
transaction as ``policy.<type>.updated`` with the values before and after."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from access.policies import selectors
from access.policies.models import PasswordHistory, SecurityPolicy
from access.policies.types import PASSWORD, POLICY_TYPES, SESSION
from audit.services import record
from config.errors import Invalid
from config.outages import is_outage
from config.request_context import request_memo
from orgs.models import Organization

WEAKER_THAN_PLATFORM = "weaker_than_platform"
CONTRADICTORY = "contradictory_values"
POLICY_ERROR_CODES = [WEAKER_THAN_PLATFORM, CONTRADICTORY]


def _clean(policy_type: str, values: dict[str, Any]) -> dict[str, Any]:
    """Every field of the type, of its kind and within its bounds (the API serializer and
    the admin form state the same rules; this is the last word)."""
    clean: dict[str, Any] = {}
    for f in POLICY_TYPES[policy_type]:
        value = values.get(f.name)
        if f.kind is bool:
            if not isinstance(value, bool):
                raise Invalid("invalid", f"{f.name} must be true or false.", attr=f.name)
        elif f.kind is str:
            if value not in f.choices:
                raise Invalid(
                    "invalid", f"{f.name} must be one of {', '.join(f.choices)}.", attr=f.name
                )
        elif isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("invalid", f"{f.name} must be a whole number.", attr=f.name)
        elif not f.minimum <= value <= f.maximum:
            raise Invalid(
                "invalid", f"{f.name} must be from {f.minimum} to {f.maximum}.", attr=f.name
            )
        clean[f.name] = value
    _consistent(policy_type, clean)
    return clean


def _consistent(policy_type: str, clean: dict[str, Any]) -> None:
    """Values that are each within bounds but cannot hold together: 400
    ``contradictory_values`` naming the field to change."""
    if policy_type == PASSWORD and clean["min_length"] > settings.PASSWORD_MAX_LENGTH:
        raise Invalid(
            CONTRADICTORY,
            f"min_length may not exceed the longest password accepted "
            f"({settings.PASSWORD_MAX_LENGTH}).",
            attr="min_length",
        )
    if policy_type == SESSION and clean["refresh_idle_days"] > clean["refresh_absolute_days"]:
        raise Invalid(
            CONTRADICTORY,
            "refresh_idle_days may not exceed refresh_absolute_days (a session ends at the "
            "absolute limit however active it is).",
            attr="refresh_idle_days",
        )


def policy_check(
    *, organization: Organization | None, policy_type: str, values: dict[str, Any]
) -> dict[str, Any]:
    """The complete, checked values of a policy (raises ``Invalid`` naming the field).

    An organization's may only be as strict as the platform's or stricter, field by field:
    ``Invalid("weaker_than_platform", attr=<field>)`` otherwise."""
    clean = _clean(policy_type, values)
    if organization is not None:
        platform = selectors.platform_values(policy_type)
        for f in POLICY_TYPES[policy_type]:
            if f.is_weaker(clean[f.name], platform[f.name]):
                raise Invalid(
                    WEAKER_THAN_PLATFORM,
                    f"{f.name} may not be weaker than the platform's ({platform[f.name]!r}).",
                    attr=f.name,
                )
    return clean


def policy_set(
    *,
    organization: Organization | None,
    policy_type: str,
    values: dict[str, Any],
    actor: Any,
    request=None,
) -> SecurityPolicy:
    """Store the platform's (``organization`` None) or an organization's policy, checked by
    ``policy_check`` (under a lock on the platform's row, so it cannot loosen meanwhile)."""
    with transaction.atomic():
        SecurityPolicy.objects.select_for_update().filter(
            organization=None, policy_type=policy_type
        ).first()
        clean = policy_check(organization=organization, policy_type=policy_type, values=values)
        before = selectors.policy_values(organization, policy_type)
        row, _ = SecurityPolicy.objects.select_for_update().get_or_create(
            organization=organization, policy_type=policy_type, defaults={"values": clean}
        )
        row.values = clean
        row.updated_at = timezone.now()
        row.updated_by = actor if getattr(actor, "pk", None) else None
        row.save()
        # Now for this transaction's own reads, and again once committed (another process
        # may have cached the rows as they were in between).
        _forget_stored_types()
        transaction.on_commit(_forget_stored_types)
        record(
            action=f"policy.{policy_type}.updated",
            actor=actor,
            target=row,
            request=request,
            changes={
                name: [before.get(name), value]
                for name, value in clean.items()
                if before.get(name) != value
            },
            metadata={
                "scope": "organization" if organization is not None else "platform",
                "organization": str(organization.pk) if organization is not None else None,
                "before": before,
                "after": clean,
            },
        )
    return row


def _forget_stored_types() -> None:
    memo = request_memo()
    if memo is not None:
        memo.pop(selectors.STORED_TYPES_KEY, None)
    try:
        cache.delete(selectors.STORED_TYPES_KEY)
    except Exception as exc:
        if not is_outage(exc):
            raise
        # The cache is down: the entry it may keep expires by itself (STORED_TYPES_TTL).


def password_remember(*, user: Any, encoded: str) -> None:
    """``user`` now has the password hashed as ``encoded``: keep the hashes of their last
    ``history`` passwords (their effective policy's), and no more; the newest row always
    (it says when the current password was set, which password expiry counts from)."""
    keep = max(1, selectors.effective_values(user, PASSWORD)["history"])
    with transaction.atomic():
        PasswordHistory.objects.create(user_id=user.pk, password=encoded)
        stale = PasswordHistory.objects.filter(user_id=user.pk).values_list("pk", flat=True)[keep:]
        PasswordHistory.objects.filter(pk__in=list(stale)).delete()


def password_history_erase(*, user: Any) -> None:
    """An erasure step: a person's old password hashes go with their account."""
    PasswordHistory.objects.filter(user_id=user.pk).delete()
