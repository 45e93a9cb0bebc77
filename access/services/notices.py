"""What the access request state machine tells people: the approvers that a request waits
for them, the requester that it was decided, a grant's holder that it ends soon or ended.
Sent with ``notifications.services.notify``, delivered after the caller's transaction
commits."""

from __future__ import annotations

from typing import Any

from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from access.models import AccessRequest, Grant
from accounts.preferences import preferences_of
from notifications.kinds import Kind
from notifications.services import notify


def notify_to_review(approver: Any, access_request: AccessRequest) -> None:
    notify(
        approver,
        Kind.ACCESS_REQUEST_TO_REVIEW,
        format_lazy(
            _("Access request to review: {resource}"), resource=access_request.resource_key
        ),
        format_lazy(
            ngettext_lazy(
                "{email} asks for {level} access to {resource} for {days} day.",
                "{email} asks for {level} access to {resource} for {days} days.",
                access_request.duration_days,
            ),
            email=access_request.requester.email,
            level=access_request.access_level,
            resource=access_request.resource_key,
            days=access_request.duration_days,
        ),
        data={"access_request": str(access_request.pk)},
        from_user=access_request.requester,
    )


def notify_decided(access_request: AccessRequest, grant: Grant | None = None) -> None:
    data = {"access_request": str(access_request.pk)}
    if grant is not None:
        data["grant"] = str(grant.pk)
    notify(
        access_request.requester,
        Kind.ACCESS_REQUEST_DECIDED,
        format_lazy(
            _("Access request approved: {resource}")
            if grant is not None
            else _("Access request denied: {resource}"),
            resource=access_request.resource_key,
        ),
        format_lazy(
            _("Your request for {level} access to {resource} was approved.")
            if grant is not None
            else _("Your request for {level} access to {resource} was denied."),
            level=access_request.access_level,
            resource=access_request.resource_key,
        ),
        data=data,
    )


def notify_grant_expired(grant: Grant) -> None:
    notify(
        grant.user,
        Kind.GRANT_EXPIRED,
        format_lazy(_("Your access to {resource} ended"), resource=grant.resource_key),
        format_lazy(
            _("Your {level} access to {resource} has expired."),
            level=grant.access_level,
            resource=grant.resource_key,
        ),
        data={"grant": str(grant.pk)},
    )


def notify_grant_expiring(grant: Grant) -> None:
    notify(
        grant.user,
        Kind.GRANT_EXPIRING,
        format_lazy(_("Your access to {resource} ends soon"), resource=grant.resource_key),
        format_lazy(
            _("Your {level} access to {resource} ends at {when}."),
            level=grant.access_level,
            resource=grant.resource_key,
            # In the person's zone and formats, month names in their language.
            when=lazy(preferences_of(grant.user).format, str)(grant.expires_at),
        ),
        data={"grant": str(grant.pk), "expires_at": grant.expires_at.isoformat()},
    )
