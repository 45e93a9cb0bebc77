"""Whether the browser session behind a request confirmed its credentials recently, as
allauth's pages decide it (its "reauthenticate" step), from allauth's public record of the
session's authentications."""

from __future__ import annotations

import time

from allauth.account import app_settings as account_settings
from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator


def _can_reauthenticate(user) -> bool:
    """A password or an authenticator to confirm with; an account with only social logins
    has neither, and allauth lets it through."""
    return user.has_usable_password() or Authenticator.objects.filter(user_id=user.pk).exists()


def recently_reauthenticated(request) -> bool:
    user = request.user
    if user.is_anonymous:
        return False
    if not _can_reauthenticate(user):
        return True
    records = [r for r in get_authentication_records(request, user) if r.get("reauthenticated")]
    if not records:
        return False
    return time.time() - records[-1]["at"] < account_settings.REAUTHENTICATION_TIMEOUT
