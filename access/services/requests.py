"""The access request state machine, and the grants it starts, in one place.

    pending ──approve × min_approvals──▶ approved (a grant starts)
       │ ├──deny (one is enough)──────▶ denied
       │ ├──cancel (the requester)────▶ canceled
       │ └──past decide_by (the task)─▶ lapsed
       └──delegate: the delegate becomes an approver, the delegator stops being one

A grant is ``active`` until ``expires_at`` (then the task marks it ``expired``) or until it
is revoked. Readers never trust ``status`` alone: they compare ``expires_at`` with the time
they read (``access.selectors``).

Every decision locks the request row (``select_for_update``), so concurrent reviews decide
once. The approvers are resolved when the request is made, stored and returned; the requester
is never one of them. Every step is audited in its transaction and notifies the people it
concerns (``access.services.notices``, delivered after commit). What the caller and the input
must pass first is checked in ``access.services.checks``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from access.models import AccessRequest, Grant, Review
from access.services.checks import (
    COMMENT_MAX,
    Submission,
    check_review,
    check_submission,
    may_revoke,
)
from access.services.notices import (
    notify_decided,
    notify_grant_expired,
    notify_grant_expiring,
    notify_to_review,
)
from audit.services import record
from config.errors import Conflict, Forbidden, Invalid, NotFound
from orgs.models import Organization
from orgs.permissions import active_membership
from orgs.services.rules import clean_text, ensure_writable

EXPIRING_NOTICE = timedelta(hours=24)

SUBMIT_ERROR_CODES = {
    400: ["duration_too_long", "unknown_level", "invalid", "invalid_characters", "blank"],
    404: ["unknown_resource"],
    409: ["request_pending", "already_granted", "no_approvers", "organization_inactive"],
}
REVIEW_ERROR_CODES = {
    400: ["conditions_wider", "invalid_delegate", "invalid_characters", "invalid"],
    403: ["not_an_approver", "cannot_grant"],
    404: ["unknown_resource"],
    409: ["already_decided", "already_reviewed", "organization_inactive"],
}
CANCEL_ERROR_CODES = {409: ["already_decided"]}
REVOKE_ERROR_CODES = {409: ["grant_ended"]}


def _target(access_request: AccessRequest) -> dict[str, Any]:
    return {
        "organization": str(access_request.organization_id),
        "resource": access_request.resource_key,
        "access_level": access_request.access_level,
    }


# --- approvers ----------------------------------------------------------------------------


def _close_request(
    access_request: AccessRequest,
    status: str,
    *,
    now,
    actor: Any = None,
    request: Any = None,
    reason: str | None = None,
) -> None:
    """A pending request ends (canceled or lapsed), audited ``access.request.<status>``."""
    access_request.status = status
    access_request.decided_at = now
    access_request.save(update_fields=["status", "decided_at"])
    metadata = _target(access_request)
    if reason is not None:
        metadata["reason"] = reason
    record(
        action=f"access.request.{AccessRequest.Status(status).value}",
        actor=actor,
        target=access_request,
        request=request,
        metadata=metadata,
    )


def _end_grant(
    grant: Grant,
    status: str,
    *,
    ended_at,
    actor: Any = None,
    request: Any = None,
    reason: str | None = None,
) -> None:
    """A grant ends (revoked or expired), audited ``access.grant.<status>``."""
    grant.status = status
    grant.ended_at = ended_at
    grant.save(update_fields=["status", "ended_at"])
    metadata = {
        "organization": str(grant.organization_id),
        "resource": grant.resource_key,
        "access_level": grant.access_level,
        "user": str(grant.user_id),
    }
    if reason is not None:
        metadata["reason"] = reason
    record(
        action=f"access.grant.{Grant.Status(status).value}",
        actor=actor,
        target=grant,
        request=request,
        metadata=metadata,
    )


# --- submission ---------------------------------------------------------------------------


def request_submit(
    *,
    organization: Organization,
    requester: Any,
    resource: str,
    access_level: str,
    justification: str,
    duration_days: int,
    request: Any = None,
) -> AccessRequest:
    """A member with ``access:request`` asks for ``resource`` at ``access_level``."""
    now = timezone.now()
    checked = check_submission(
        organization=organization,
        requester=requester,
        resource=resource,
        access_level=access_level,
        justification=justification,
        duration_days=duration_days,
        now=now,
    )
    with transaction.atomic():
        # The organization's row, as the orgs services take it first: a removal, suspension
        # or archive waits for this request (and any grant it starts), then ends it.
        ensure_writable(_lock_organization(organization))
        if active_membership(requester, organization) is None:
            raise Forbidden(detail="This needs the permission access:request.")
        access_request = _create_pending(
            organization, requester, checked, access_level, duration_days, now
        )
        access_request.approvers.set(checked.approvers)
        record(
            action="access.request.created",
            actor=requester,
            target=access_request,
            request=request,
            metadata={
                **_target(access_request),
                "duration_days": duration_days,
                "approvers": [str(u.pk) for u in checked.approvers],
                "auto_approve": checked.auto,
            },
        )
        if checked.auto:
            _approve(access_request, actor=None, request=request, conditions=[], now=now)
        else:
            for approver in checked.approvers:
                notify_to_review(approver, access_request)
    return access_request


def _create_pending(
    organization: Organization,
    requester: Any,
    checked: Submission,
    access_level: str,
    duration_days: int,
    now,
) -> AccessRequest:
    """The pending row; a second pending request for the same resource and level is refused
    by the database (the savepoint keeps the caller's transaction usable)."""
    found = checked.resource
    try:
        with transaction.atomic():
            return AccessRequest.objects.create(
                organization=organization,
                requester=requester,
                resource_key=found.key,
                access_level=access_level,
                justification=checked.justification,
                duration_days=duration_days,
                levels=list(found.levels),
                min_approvals=found.min_approvals,
                created_at=now,
                decide_by=now + timedelta(days=found.pending_days),
            )
    except IntegrityError as exc:
        raise Conflict(
            "request_pending", "You have a pending request for this resource and level."
        ) from exc


# --- reviews ------------------------------------------------------------------------------


def _lock_organization(organization: Organization) -> Organization:
    """Lock the organization's row before a request's (``FOR NO KEY UPDATE``: the orgs
    services' ``FOR UPDATE`` waits for it, the foreign keys' ``FOR KEY SHARE`` does not)."""
    locked = Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    if locked is None:
        raise NotFound()
    return locked


def _lock(access_request: AccessRequest) -> AccessRequest:
    locked = (
        AccessRequest.objects.select_for_update()
        .select_related("organization", "requester")
        .filter(pk=access_request.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    return locked


def _ensure_pending(locked: AccessRequest, now) -> None:
    if locked.status != AccessRequest.Status.PENDING:
        raise Conflict("already_decided", f"The request is {locked.status}.")
    if locked.decide_by <= now:
        raise Conflict("already_decided", "The request waited past its decision date: lapsed.")


def request_review(
    *,
    access_request: AccessRequest,
    reviewer: Any,
    action: str,
    comments: str = "",
    conditions: Any = None,
    delegate_to: Any = None,
    request: Any = None,
) -> AccessRequest:
    """An approver approves, denies or delegates. ``min_approvals`` distinct approvals
    approve; one denial denies; delegation hands the approver's place to another member."""
    if action not in Review.Action.values:
        raise Invalid("invalid_choice", "approve, deny or delegate.", attr="action")
    comments = clean_text(comments or "", attr="comments", max_length=COMMENT_MAX)
    now = timezone.now()
    with transaction.atomic():
        _lock_organization(access_request.organization)
        locked = _lock(access_request)
        _ensure_pending(locked, now)
        ensure_writable(locked.organization)
        cleaned, delegate = check_review(
            locked,
            reviewer=reviewer,
            action=action,
            conditions=conditions,
            delegate_to=delegate_to,
        )
        Review.objects.create(
            request=locked,
            reviewer=reviewer,
            action=action,
            comment=comments,
            conditions=cleaned,
            delegate_to=delegate,
            created_at=now,
        )
        if action == Review.Action.DELEGATE:
            _delegate(locked, reviewer=reviewer, delegate=delegate, request=request)
        elif action == Review.Action.DENY:
            _deny(locked, reviewer=reviewer, request=request, now=now)
        else:
            approvals = list(
                locked.reviews.filter(action=Review.Action.APPROVE).values_list(
                    "conditions", flat=True
                )
            )
            if len(approvals) >= locked.min_approvals:
                _approve(locked, actor=reviewer, request=request, conditions=approvals, now=now)
    return locked


def _delegate(locked: AccessRequest, *, reviewer: Any, delegate: Any, request: Any) -> None:
    """The delegate takes the reviewer's place among the approvers."""
    locked.approvers.remove(reviewer)
    locked.approvers.add(delegate)
    record(
        action="access.request.delegated",
        actor=reviewer,
        target=locked,
        request=request,
        metadata={**_target(locked), "delegate_to": str(delegate.pk)},
    )
    notify_to_review(delegate, locked)


def _deny(locked: AccessRequest, *, reviewer: Any, request: Any, now) -> None:
    locked.status = AccessRequest.Status.DENIED
    locked.decided_at = now
    locked.save(update_fields=["status", "decided_at"])
    record(
        action="access.request.denied",
        actor=reviewer,
        target=locked,
        request=request,
        metadata=_target(locked),
    )
    notify_decided(locked)


def _approve(
    locked: AccessRequest, *, actor: Any, request: Any, conditions: list[dict], now
) -> Grant:
    """Approve and start the grant, narrowed by every approver's conditions."""
    days = min([c["duration_days"] for c in conditions if "duration_days" in c], default=None)
    levels = list(locked.levels) or [locked.access_level]
    level = min(
        [c["access_level"] for c in conditions if "access_level" in c] + [locked.access_level],
        key=levels.index,
    )
    locked.status = AccessRequest.Status.APPROVED
    locked.decided_at = now
    locked.save(update_fields=["status", "decided_at"])
    grant = Grant.objects.create(
        user_id=locked.requester_id,
        organization_id=locked.organization_id,
        request=locked,
        resource_key=locked.resource_key,
        access_level=level,
        starts_at=now,
        expires_at=now + timedelta(days=days or locked.duration_days),
    )
    record(
        action="access.request.approved",
        actor=actor,
        target=locked,
        request=request,
        metadata={**_target(locked), "auto_approve": actor is None},
    )
    record(
        action="access.grant.started",
        actor=actor,
        target=grant,
        request=request,
        metadata={
            **_target(locked),
            "access_level": level,
            "user": str(locked.requester_id),
            "expires_at": grant.expires_at.isoformat(),
        },
    )
    notify_decided(locked, grant)
    return grant


def request_cancel(*, access_request: AccessRequest, actor: Any, request: Any = None) -> None:
    """The requester withdraws a pending request."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(access_request)
        if locked.requester_id != actor.pk:
            raise Forbidden(detail="Only the requester cancels a request.")
        _ensure_pending(locked, now)
        _close_request(locked, AccessRequest.Status.CANCELED, now=now, actor=actor, request=request)
    return locked


# --- grants -------------------------------------------------------------------------------


def grant_revoke(*, grant: Grant, actor: Any, request: Any = None) -> Grant:
    now = timezone.now()
    with transaction.atomic():
        locked = Grant.objects.select_for_update().filter(pk=grant.pk).first()
        if locked is None:
            raise NotFound()
        if not may_revoke(actor, grant):
            raise Forbidden(detail="Only the holder, an approver or access:manage revokes.")
        if not locked.is_active(now):
            raise Conflict("grant_ended", f"The grant has ended ({locked.effective_status}).")
        _end_grant(locked, Grant.Status.REVOKED, ended_at=now, actor=actor, request=request)
    return locked


def grants_end_for_membership(
    *, organization: Organization, user_id: Any, reason: str, actor: Any = None, request=None
) -> dict[str, int]:
    """Registered with ``orgs.hooks.register_membership_ended``: when a member is removed,
    leaves or is suspended (``user_id``), or the organization is archived (``user_id`` None),
    their active grants in it are revoked now and their pending requests there canceled
    (a suspended member is not left with a request that could start a grant later), each
    audited with ``reason``, in the orgs service's transaction."""
    now = timezone.now()
    pending = AccessRequest.objects.select_for_update().filter(
        organization=organization, status=AccessRequest.Status.PENDING
    )
    # A grant past its end is the expiry task's to mark ``expired``, not revoked.
    grants = Grant.objects.select_for_update().filter(
        organization=organization, status=Grant.Status.ACTIVE, expires_at__gt=now
    )
    if user_id is not None:
        grants = grants.filter(user_id=user_id)
        pending = pending.filter(requester_id=user_id)
    # The pending requests first: a review deciding one now holds its row until it commits,
    # so the grants read next include the grant that approval started.
    pending = list(pending.order_by("pk"))
    done = {"revoked": 0, "canceled": 0}
    for grant in grants.order_by("pk"):
        _end_grant(
            grant, Grant.Status.REVOKED, ended_at=now, actor=actor, request=request, reason=reason
        )
        done["revoked"] += 1
    for access_request in pending:
        _close_request(
            access_request,
            AccessRequest.Status.CANCELED,
            now=now,
            actor=actor,
            request=request,
            reason=reason,
        )
        done["canceled"] += 1
    return done


# --- time ---------------------------------------------------------------------------------


def access_expire_due(*, now=None, batch_size: int = 500) -> dict[str, int]:
    """Mark grants past ``expires_at`` expired and pending requests past ``decide_by``
    lapsed, each audited; warn holders whose grant ends within 24 hours. Safe to run twice
    or on several workers: rows are locked with ``skip_locked`` and checked again."""
    now = now or timezone.now()
    done = {"expired": 0, "lapsed": 0, "expiring": 0}
    with transaction.atomic():
        grants = (
            Grant.objects.select_for_update(skip_locked=True)
            .filter(status=Grant.Status.ACTIVE, expires_at__lte=now)
            .select_related("user")
            .order_by("expires_at")[:batch_size]
        )
        for grant in grants:
            _end_grant(grant, Grant.Status.EXPIRED, ended_at=grant.expires_at)
            notify_grant_expired(grant)
            done["expired"] += 1
    with transaction.atomic():
        requests = (
            AccessRequest.objects.select_for_update(skip_locked=True)
            .filter(status=AccessRequest.Status.PENDING, decide_by__lte=now)
            .order_by("decide_by")[:batch_size]
        )
        for access_request in requests:
            _close_request(access_request, AccessRequest.Status.LAPSED, now=now)
            done["lapsed"] += 1
    with transaction.atomic():
        expiring = (
            Grant.objects.select_for_update(skip_locked=True)
            .filter(
                status=Grant.Status.ACTIVE,
                expiring_notified=False,
                expires_at__gt=now,
                expires_at__lte=now + EXPIRING_NOTICE,
            )
            .select_related("user")
            .order_by("expires_at")[:batch_size]
        )
        for grant in expiring:
            grant.expiring_notified = True
            grant.save(update_fields=["expiring_notified"])
            notify_grant_expiring(grant)
            done["expiring"] += 1
    return done
