"""What Roster adds to a SAML sign-in, around allauth's SAML provider.

- **Routing**: :func:`connection_for_email` finds the IdP of an address: its domain is a
  verified domain of an active organization whose enabled connection names it.
- **Policy** (:func:`guard_sign_in`, on allauth's ``pre_social_login``, before anything is
  written or anyone signed in): the connection must be enabled and its organization active;
  the asserted address must be at one of the connection's verified domains (an IdP speaks
  only for its organization's people); an existing account must be allowed to sign in
  (``accounts.flows.login.user_may_sign_in``: suspended and deactivated accounts are
  refused) and not locked out (the ``login_failed`` counters of every door,
  ``accounts.flows.limits``); a first sign-in needs a free seat. An account with the same
  address is linked only when that address is verified (else whoever created it unverified
  would share the IdP user's account). MFA is allauth's login stage, which runs after this
  for social sign-ins as for passwords; refusals are audited as ``auth.login.failed`` with
  ``method: saml``.
- **Membership** (:func:`join_after_sign_in`, on Django's ``user_logged_in``, so after the
  MFA step and before the security policies read the new session): the person becomes a
  ``member`` of the organization (seat checked again with the organization row locked; a
  seat taken meanwhile leaves them signed in, not a member). The organization's MFA
  policy then applies to the new session as to any other.
"""

from __future__ import annotations

from typing import Any

from allauth.account.authentication import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from django.db import transaction
from django.shortcuts import render

from accounts.flows.limits import consume_login_attempt
from accounts.flows.login import user_may_sign_in
from accounts.managers import normalize_email
from accounts.models import User
from audit.services import record
from config.errors import Conflict, TooManyRequests
from orgs.catalogue import MEMBER_ROLE
from orgs.models import Invitation, Membership, Organization, Role
from orgs.saml.models import SamlConnection
from orgs.saml.provider import organization_id_of
from orgs.services.members import _join
from orgs.services.rules import ensure_seats, ensure_writable, lock_organization

METHOD = "saml"

REFUSALS = {
    "sso_disabled": "Single sign-on is not available for this organization.",
    "email_missing": "The identity provider did not send an email address.",
    "domain_not_allowed": "The identity provider may not sign in addresses at this domain.",
    "unverified_account": "An account with this address exists but its address was never "
    "confirmed. Sign in with its password and confirm the address first, or ask an "
    "administrator.",
    "inactive": "This account cannot sign in.",
    "seat_limit_reached": "The organization has no free seat; ask its administrators.",
}


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower() if "@" in email else ""


def connection_for_email(email: str) -> SamlConnection | None:
    """The enabled connection that signs in ``email``, or None (password sign-in)."""
    domain = email_domain(normalize_email(email))
    if not domain:
        return None
    return (
        SamlConnection.objects.select_related("organization")
        .filter(
            enabled=True,
            organization__status=Organization.Status.ACTIVE,
            domains__domain=domain,
            domains__verified=True,
        )
        .first()
    )


def asserted_email(sociallogin) -> str:
    """The address the IdP asserted (allauth puts it first among the login's addresses)."""
    for address in sociallogin.email_addresses:
        if address.primary:
            return normalize_email(address.email)
    if sociallogin.email_addresses:
        return normalize_email(sociallogin.email_addresses[0].email)
    return normalize_email(getattr(sociallogin.user, "email", "") or "")


def _refuse(request, reason: str, *, email: str, organization_id: Any, user=None, status=403):
    record(
        action="auth.login.failed",
        actor=None,
        target=user,
        request=request,
        metadata={
            "door": "page",
            "method": METHOD,
            "reason": reason,
            "identifier": email[:254],
            "organization": str(organization_id),
        },
    )
    response = render(
        request,
        "orgs/sso_refused.html",
        {"reason": reason, "detail": REFUSALS[reason]},
        status=status,
    )
    raise ImmediateHttpResponse(response)


def _email_verified(user: User) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def _pending_invitations(organization: Organization, email: str):
    return organization.invitations.filter(status=Invitation.Status.PENDING, email__iexact=email)


def guard_sign_in(sender, request, sociallogin, **kwargs: Any) -> None:
    org_id = organization_id_of(sociallogin.account.provider)
    if org_id is None:
        return
    email = asserted_email(sociallogin)
    connection = (
        SamlConnection.objects.select_related("organization").filter(organization_id=org_id).first()
    )
    if (
        connection is None
        or not connection.enabled
        or connection.organization.status != Organization.Status.ACTIVE
    ):
        _refuse(request, "sso_disabled", email=email, organization_id=org_id)
    if not email:
        _refuse(request, "email_missing", email=email, organization_id=org_id)
    if not connection.domains.filter(domain=email_domain(email), verified=True).exists():
        _refuse(request, "domain_not_allowed", email=email, organization_id=org_id)
    # The IdP speaks for its organization's verified domain: the address is verified.
    for address in sociallogin.email_addresses:
        if normalize_email(address.email) == email:
            address.verified = True

    linked = sociallogin.is_existing
    user = sociallogin.user if linked else User.objects.filter(email=email).first()
    usage = None
    if user is not None:
        try:
            usage = consume_login_attempt(request, email=user.email, user=user)
        except TooManyRequests:
            # auth.lockout is recorded by the limits, once per locked window.
            response = render(
                request,
                "orgs/sso_refused.html",
                {"reason": "locked_out", "detail": "Too many failed attempts. Try again later."},
                status=429,
            )
            raise ImmediateHttpResponse(response) from None
        if not user_may_sign_in(user):
            _refuse(request, "inactive", email=email, organization_id=org_id, user=user)
        if not linked and not _email_verified(user):
            _refuse(request, "unverified_account", email=email, organization_id=org_id, user=user)
    needs_seat = (
        user is None or not Membership.objects.filter(organization_id=org_id, user=user).exists()
    )
    if needs_seat:
        try:
            with transaction.atomic():
                locked = lock_organization(connection.organization)
                ensure_writable(locked)
                # A pending invitation to this address already holds its seat.
                ensure_seats(locked, 1, releasing=_pending_invitations(locked, email).count())
        except Conflict:
            _refuse(request, "seat_limit_reached", email=email, organization_id=org_id, user=user)
    if user is not None and not linked:
        # Links the identity (auth.social.connected, and allauth's notice to the person).
        sociallogin.connect(request, user)
    if usage is not None:
        usage.rollback()


def _saml_organization_of_sign_in(request, user) -> Any:
    """The organization whose IdP made this sign-in, from allauth's record of the session's
    authentication steps (the second factor is not the method); None for any other."""
    if getattr(request, "session", None) is None:
        return None
    for step in reversed(get_authentication_records(request, user)):
        if step.get("method") in ("mfa", "reauthenticate"):
            continue
        if step.get("method") != "socialaccount":
            return None
        return organization_id_of(str(step.get("provider", "")))
    return None


def join_after_sign_in(sender, request, user, **kwargs: Any) -> None:
    # On Django's user_logged_in, connected before the security policies' receiver (orgs
    # is ready before access): the membership exists when the organization's MFA policy
    # is read for the new session.
    org_id = _saml_organization_of_sign_in(request, user)
    if org_id is None:
        return
    organization = Organization.objects.filter(pk=org_id).first()
    if organization is None:
        return
    with transaction.atomic():
        locked = lock_organization(organization)
        if locked.status != Organization.Status.ACTIVE:
            return
        if Membership.objects.filter(organization=locked, user=user).exists():
            return
        pending = _pending_invitations(locked, user.email)
        try:
            ensure_seats(locked, 1, releasing=pending.count())
        except Conflict:
            return
        role = Role.objects.get(organization=None, key=MEMBER_ROLE)
        _join(locked, user, [role], actor=None, request=request, via=METHOD)
        # The invitation's seat is now the membership's (as when a member is added).
        pending.update(status=Invitation.Status.CANCELED, token_digest="")
