"""Deleting an account: deactivated at once, its personal data erased after the grace
period (``user_erase``, run by the accounts.tasks schedule). What the apps above accounts
hold of the account is released by the steps they register in accounts.hooks."""

from __future__ import annotations

from datetime import datetime, timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import hooks
from accounts.models import ApiKey, ApiSession, User, UserSetting
from accounts.services.fields import TEXT_FIELDS
from accounts.services.users import (
    Status,
    apply_status,
    current_roles,
    ensure_an_admin_remains,
    iso_text,
    lock_admin_changes,
    lock_user,
    revoke_access,
)
from accounts.sms.models import SmsCode, SmsDevice
from audit.personal import subject_forget
from audit.services import record
from config.errors import Conflict


def erasure_grace() -> timedelta:
    return timedelta(days=settings.ROSTER["ACCOUNT_ERASURE_GRACE_DAYS"])


def user_request_erasure(*, user: User, actor, request=None) -> User:
    """Delete an account: deactivated now, personal data erased after the grace period.

    Until then an admin may reactivate the account, which cancels the erasure.
    """
    with transaction.atomic():
        lock_admin_changes()
        locked = lock_user(user.pk)
        if locked.erased_at is not None:
            raise Conflict("user_erased", "This account has been erased.")
        if locked.erasure_due_at is not None:
            user.refresh_from_db()
            return user  # already scheduled: asking twice changes nothing
        ensure_an_admin_remains(
            locked, roles_after=current_roles(locked), status_after=Status.DEACTIVATED
        )
        due = timezone.now() + erasure_grace()
        before_status = locked.status
        locked.erasure_due_at = due
        locked.save(update_fields=["erasure_due_at"])
        changes = apply_status(
            locked, Status.DEACTIVATED, actor=actor, request=request, reason="account_deleted"
        )
        if before_status == Status.DEACTIVATED:
            # Already deactivated by an admin: sessions are gone, keys revoked; nothing to
            # revoke, only the erasure to schedule.
            changes = {"erasure_due_at": [None, iso_text(due)]}
        else:
            changes["erasure_due_at"] = [None, iso_text(due)]
        record(
            action="user.deactivated",
            actor=actor,
            target=locked,
            request=request,
            changes=changes,
            metadata={"reason": "deletion_requested", "erasure_due_at": iso_text(due)},
        )
    user.refresh_from_db()
    return user


def erased_email(user_id) -> str:
    """The pseudonymous address an erased account keeps (unique, never deliverable)."""
    return f"erased-{user_id.hex}@erased.invalid"


def user_erase(*, user_id, now: datetime | None = None) -> bool:
    """Erase the personal data of an account whose grace period has passed.

    The row stays under its random id (the pseudonym), so usage and audit history keep
    pointing at it; everything that identifies the person goes. Safe to run twice: returns
    False when there is nothing (more) to erase.
    """
    now = now or timezone.now()
    with transaction.atomic():
        try:
            locked = User.objects.select_for_update().get(pk=user_id)
        except User.DoesNotExist:
            return False
        due = locked.erasure_due_at
        if (
            locked.erased_at is not None
            or due is None
            or due > now
            or locked.status != Status.DEACTIVATED
        ):
            return False
        revoke_access(locked, actor=None, request=None, reason="account_erased")
        # What the other apps hold of the account (slots are released, which drops their
        # stored credentials): registered with accounts.hooks by those apps.
        hooks.run_erasure_steps(user=locked)
        for web_session in UserSession.objects.filter(user=locked):
            web_session.end()
        erased = {
            "settings": UserSetting.objects.filter(user=locked).delete()[0],
            "api_sessions": ApiSession.objects.filter(user=locked).delete()[0],
            "access_keys": ApiKey.objects.filter(user=locked).delete()[0],
            "email_addresses": EmailAddress.objects.filter(user=locked).delete()[0],
            "social_accounts": SocialAccount.objects.filter(user=locked).delete()[0],
            "authenticators": Authenticator.objects.filter(user=locked).delete()[0],
            "sms_devices": SmsDevice.objects.filter(user=locked).delete()[0],
            "sms_codes": SmsCode.objects.filter(user=locked).delete()[0],
        }
        locked.email = erased_email(locked.pk)
        locked.username = None
        for field in TEXT_FIELDS:
            setattr(locked, field, "")
        locked.phone = ""
        locked.timezone = "UTC"
        locked.locale = "en"
        locked.last_login = None
        locked.set_unusable_password()
        locked.erased_at = now
        locked.save()
        # Crypto-shredding: the audit log keeps its (sealed) events, but the personal values
        # in them were encrypted under this key, and nothing can read them once it is gone.
        erased["audit_keys"] = subject_forget(locked.pk)
        record(
            action="user.deleted",
            actor=None,
            target=locked,
            changes={"erased_at": [None, iso_text(now)]},
            metadata={"pseudonym": str(locked.pk), "removed": erased},
        )
    return True


def users_due_for_erasure(*, now: datetime | None = None, limit: int = 1000) -> list:
    now = now or timezone.now()
    return list(
        User.objects.filter(
            erasure_due_at__lte=now, erased_at__isnull=True, status=Status.DEACTIVATED
        )
        .order_by("erasure_due_at")
        .values_list("pk", flat=True)[:limit]
    )
