"""Every kind of notification Roster sends, in one place.

The model's ``kind`` choices, the email setting's allowed values (accounts'
``notifications.email_kinds``) and the API schema all read this list.
"""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    INVITATION_RECEIVED = "invitation_received", "Invitation received"
    MEMBERSHIP_CHANGED = "membership_changed", "Membership or role changed"
    TEAM_MEMBERSHIP_CHANGED = "team_membership_changed", "Team membership changed"
    ACCESS_REQUEST_TO_REVIEW = "access_request_to_review", "Access request to review"
    ACCESS_REQUEST_DECIDED = "access_request_decided", "Access request approved or denied"
    GRANT_EXPIRING = "grant_expiring", "Access grant expiring"
    GRANT_EXPIRED = "grant_expired", "Access grant expired"
    SUPPORT_REPLY = "support_reply", "Support ticket reply"
    NEW_DEVICE_SIGN_IN = "new_device_sign_in", "New sign-in from a new device"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    MFA_CHANGED = "mfa_changed", "Two-factor authentication changed"
    REPORT_READY = "report_ready", "Report ready"
    REPORT_FAILED = "report_failed", "Report failed"
    MESSAGE = "message", "Message"


# What goes by email until the user says otherwise: the security notices (someone else
# may be holding the account) and what asks the user to act (a failed report: ask again).
# Not an invitation: its own email (with the link) already went to the address.
EMAIL_BY_DEFAULT: tuple[str, ...] = (
    Kind.ACCESS_REQUEST_TO_REVIEW,
    Kind.GRANT_EXPIRING,
    Kind.SUPPORT_REPLY,
    Kind.NEW_DEVICE_SIGN_IN,
    Kind.PASSWORD_CHANGED,
    Kind.MFA_CHANGED,
    Kind.REPORT_FAILED,
)
