"""What the access request state machine tells people: the approvers that a request waits
for them, the requester that it was decided. Sent with ``notifications.services.notify``,
delivered after the caller's transaction commits."""

from __future__ import annotations

from typing import Any

from access.models import AccessRequest, Grant
from notifications.kinds import Kind
from notifications.services import notify


def notify_to_review(approver: Any, access_request: AccessRequest) -> None:
    notify(
        approver,
        Kind.ACCESS_REQUEST_TO_REVIEW,
        f"Access request to review: {access_request.resource_key}",
        f"{access_request.requester.email} asks for {access_request.access_level} access to "
        f"{access_request.resource_key} for {access_request.duration_days} day(s).",
        data={"access_request": str(access_request.pk)},
        from_user=access_request.requester,
    )


def notify_decided(access_request: AccessRequest, grant: Grant | None = None) -> None:
    verdict = "approved" if grant is not None else "denied"
    data = {"access_request": str(access_request.pk)}
    if grant is not None:
        data["grant"] = str(grant.pk)
    notify(
        access_request.requester,
        Kind.ACCESS_REQUEST_DECIDED,
        f"Access request {verdict}: {access_request.resource_key}",
        f"Your request for {access_request.access_level} access to "
        f"{access_request.resource_key} was {verdict}.",
        data=data,
    )
