"""The security policies of a signed-in web session (pages, and API calls made with the
session cookie): the ``session`` policy's ``web_session_hours`` and the ``mfa`` policy.

At sign-in (Django's ``user_logged_in``: every page sign-in, whatever its method) the
session is given its end and, when a policy requires a second factor the user lacks, the end
of their grace period; both are read again every ``RECHECK`` so that a policy change reaches
sessions already open. On each request, only the session is read:

- past its end, the session is signed out (the next page asks to sign in; the API answers
  as to anyone signed out);
- past the grace period without a second factor, pages redirect to the second-factor setup
  (``/accounts/2fa/``), and only it, reauthentication, sign-out and static files are
  served; API calls with the session cookie get 403 ``mfa_setup_required``, except
  ``/api/v1/auth/`` (status, sign-out).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone

from access.policies import selectors
from accounts.policy_rules import session_rules_for
from accounts.selectors import has_mfa
from config.api.exceptions import envelope
from config.middleware import is_token_api_request

ENDS_AT = "policy.web_session_ends_at"
MFA_DUE = "policy.mfa_due_at"
CHECKED_AT = "policy.checked_at"
RECHECK = timedelta(minutes=5)
MFA_SETUP_REQUIRED = "mfa_setup_required"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _apply(session, user, *, signed_in_at: datetime, now: datetime) -> None:
    """Write the session's end and MFA due date as the policies say now."""
    session[ENDS_AT] = _iso(signed_in_at + session_rules_for(user).web_session)
    deadline = selectors.mfa_deadline(user)
    session[MFA_DUE] = _iso(deadline) if deadline is not None and not has_mfa(user) else None
    session[CHECKED_AT] = _iso(now)


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    now = timezone.now()
    session["policy.signed_in_at"] = _iso(now)
    _apply(session, user, signed_in_at=now, now=now)


def _allowed_during_mfa_setup(path: str) -> bool:
    prefixes = (
        reverse("mfa_index"),
        reverse("account_logout"),
        reverse("account_reauthenticate"),
        settings.STATIC_URL,
        "/api/v1/auth/",
    )
    return path.startswith(prefixes)


class SecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_token_api_request(request):
            # Its session is never loaded: a token's session is the API's own, whose
            # policies were applied when the token was minted and are on every refresh.
            return self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is None or user is None or not user.is_authenticated:
            return self.get_response(request)
        now = timezone.now()
        signed_in_at = _when(session.get("policy.signed_in_at"))
        if signed_in_at is None:
            # Signed in before these policies were applied: from now on.
            signed_in_at = now
            session["policy.signed_in_at"] = _iso(now)
            _apply(session, user, signed_in_at=signed_in_at, now=now)
        elif (_when(session.get(CHECKED_AT)) or now) + RECHECK <= now:
            _apply(session, user, signed_in_at=signed_in_at, now=now)
        ends_at = _when(session.get(ENDS_AT))
        if ends_at is not None and ends_at <= now:
            logout(request)
            if request.path.startswith("/api/"):
                return self.get_response(request)
            return HttpResponseRedirect(f"{reverse('account_login')}?next={request.path}")
        due = _when(session.get(MFA_DUE))
        if due is not None and due <= now and not _allowed_during_mfa_setup(request.path):
            if has_mfa(user):  # set up since: nothing more to ask
                session[MFA_DUE] = None
            elif request.path.startswith("/api/"):
                return JsonResponse(
                    envelope(
                        "client_error",
                        MFA_SETUP_REQUIRED,
                        "A security policy requires a second factor for this account: set "
                        "one up on the account's security page.",
                    ),
                    status=403,
                )
            else:
                return HttpResponseRedirect(reverse("mfa_index"))
        return self.get_response(request)
