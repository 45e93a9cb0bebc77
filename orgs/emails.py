"""The invitation email: the organization, who invited, and the single-use link.

Sent after the invitation commits (``transaction.on_commit``) with Django's mail, under the
same subject prefix and sender as allauth's emails. The link's secret exists only here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.i18n import language_of
from orgs.models import Invitation


def invitation_link(invitation: Invitation, token: str) -> str:
    """Where the invitee lands: sign in or sign up (and verify), then accept or decline.
    The token proves the link is the live one; resending makes a new one."""
    base = settings.SITE_URL.rstrip("/")
    path = reverse("org-invitation", kwargs={"invitation_id": invitation.pk})
    return f"{base}{path}?{urlencode({'token': token})}"


def send_invitation(*, invitation_id: Any, token: str) -> None:
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(pk=invitation_id, status=Invitation.Status.PENDING)
        .first()
    )
    if invitation is None:
        return
    inviter = invitation.invited_by
    context = {
        "organization": invitation.organization,
        "inviter": (inviter.display_name or inviter.email) if inviter else "Roster",
        "link": invitation_link(invitation, token),
        "expires_at": invitation.expires_at,
        "roles": [r.name for r in invitation.roles.all()],
    }
    # In the invitee's language when the address is an account's, else the inviter's.
    invitee = get_user_model().objects.filter(email__iexact=invitation.email).first()
    language = language_of(invitee) if invitee else translation.get_language()
    prefix = getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", "")
    with translation.override(language):
        subject = render_to_string("orgs/email/invitation_subject.txt", context).strip()
        message = render_to_string("orgs/email/invitation_message.txt", context)
    send_mail(
        subject=f"{prefix}{subject}",
        message=message,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )
