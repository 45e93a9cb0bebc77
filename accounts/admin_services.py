"""Services that only the admin door needs: MFA reset and the emails an admin sends a user.

Each one is told who acted, writes its audit event in its own transaction, and uses
allauth's own machinery for what allauth owns (authenticators, email addresses, the
password-reset email), so the pages and these actions produce the same emails.
"""

from __future__ import annotations

from allauth.account.forms import ResetPasswordForm
from allauth.account.models import EmailAddress
from allauth.core import context as allauth_context
from allauth.mfa.models import Authenticator
from django.db import transaction

from accounts.credentials import credentials_revoke_on_mfa_change
from accounts.models import User
from accounts.sms.models import SmsCode, SmsDevice
from audit.services import record
from config.errors import Conflict


def _django_request(request):
    return getattr(request, "_request", request)


def user_mfa_reset(*, user: User, actor, request=None) -> list[str]:
    """Remove every authenticator of ``user`` (TOTP, WebAuthn, SMS, recovery codes) and end all
    of the user's sessions, web and API (as any MFA change does: accounts.credentials).

    For a user who lost their device. Audited as ``auth.mfa.disabled`` with the admin as
    actor; returns the authenticator types removed. allauth's own removal flows are not
    used: they act on the signed-in user (the admin) and demand the admin's reauthentication.
    """
    with transaction.atomic():
        authenticators = list(Authenticator.objects.select_for_update().filter(user=user))
        sms_devices = list(SmsDevice.objects.select_for_update().filter(user=user))
        if not authenticators and not sms_devices:
            raise Conflict("mfa_not_enabled", "This user has no MFA authenticator.")
        types = sorted({a.type for a in authenticators} | ({"sms"} if sms_devices else set()))
        Authenticator.objects.filter(pk__in=[a.pk for a in authenticators]).delete()
        SmsDevice.objects.filter(user=user).delete()
        SmsCode.objects.filter(user=user).delete()
        record(
            action="auth.mfa.disabled",
            actor=actor,
            target=user,
            request=request,
            metadata={"door": "admin", "reason": "admin_reset", "authenticators": types},
        )
        credentials_revoke_on_mfa_change(
            user=user, actor=actor, request=request, reason="mfa_reset_by_admin"
        )
    return types


def user_send_verification_email(*, user: User, actor, request) -> str:
    """Send (again) the confirmation email for the user's primary address; returns it."""
    django_request = _django_request(request)
    with transaction.atomic():
        address = EmailAddress.objects.filter(user=user, primary=True).first()
        if address is None:
            address, _ = EmailAddress.objects.get_or_create(
                user=user, email__iexact=user.email, defaults={"email": user.email}
            )
            if not address.primary:
                address.set_as_primary()
        if address.verified:
            raise Conflict("email_verified", "This email address is already verified.")
        record(
            action="auth.email.verification_sent",
            actor=actor,
            target=user,
            request=request,
            metadata={"door": "admin", "email": address.email},
        )
    with allauth_context.request_context(django_request):
        address.send_confirmation(django_request)
    return address.email


def user_send_password_reset(*, user: User, actor, request) -> None:
    """Send allauth's password-reset email to an active user (also the "set your password"
    email of users created by an admin).

    The account adapter audits it as ``auth.password.reset_requested``, naming as actor
    the signed-in user of ``request`` (``actor``, the admin). Not rate limited like the
    anonymous reset door: an admin sends these deliberately, e.g. to a whole import.
    """
    if user.status != User.Status.ACTIVE:
        raise Conflict("user_inactive", "Only active users can reset their password.")
    django_request = _django_request(request)
    with allauth_context.request_context(django_request):
        form = ResetPasswordForm(data={"email": user.email})
        if not form.is_valid():
            raise Conflict("reset_unavailable", " ".join(form.errors.get("email", [])))
        form.save(django_request)
