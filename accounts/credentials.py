"""What a credential event ends: one rule for every door (pages, API, admin).

- **Proof of the email address on an account that had no verified one**: a password reset
  through the emailed link, or the confirmation of an address. Until then anybody could
  have registered the address, so whatever was created before the proof may belong to
  someone else: every session (web and API), every API key and every linked social account
  ends. Only the browser that gave the proof keeps its session. A reset by link also marks
  the address verified (allauth's reset-by-code does; its reset-by-link does not).
- **A new password chosen by an owner whose address is verified** (change on the page or
  the API, reset by link): every other session ends, and API keys as the owner chooses:
  ``recent`` (the default) revokes the keys created in the last 24 hours, the ones someone
  holding a phished password would have minted; ``all`` revokes every key; ``none`` keeps
  them.
- **An MFA change** (an authenticator added or removed, recovery codes regenerated) ends
  the user's other sessions; an admin's MFA reset ends them all.

"Had no verified address" is read at the moment of the proof: an address, once verified,
stays so, so an account without a verified address has been unproven since it was created,
and everything created before the proof was created while it was unverified.
"""

from __future__ import annotations

from datetime import timedelta

from allauth.account import app_settings as account_settings
from allauth.account import signals as account_signals
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib import messages
from django.db import transaction
from django.utils import timezone

from accounts import notices
from accounts.apikeys import api_keys_revoke_all
from accounts.models import User
from accounts.sessions import revoke_user_sessions
from audit.services import record

API_KEYS_RECENT = "recent"
API_KEYS_ALL = "all"
API_KEYS_NONE = "none"
API_KEY_CHOICES = (API_KEYS_RECENT, API_KEYS_ALL, API_KEYS_NONE)
# Keys created this long before a password change count as "recent" (revoked by default).
RECENT_API_KEY_WINDOW = timedelta(hours=24)
# The form field (page) and the request field (API) that carry the choice.
API_KEYS_FIELD = "revoke_api_keys"


def api_key_choice(value) -> str:
    """The owner's choice for API keys on a password change; ``recent`` when none is given."""
    return value if value in API_KEY_CHOICES else API_KEYS_RECENT


def account_has_verified_email(user: User, *, excluding_address_id=None) -> bool:
    verified = EmailAddress.objects.filter(user_id=user.pk, verified=True)
    if excluding_address_id is not None:
        verified = verified.exclude(pk=excluding_address_id)
    return verified.exists()


def _social_accounts_remove(*, user: User, actor, request, reason: str) -> int:
    accounts = list(SocialAccount.objects.select_for_update().filter(user_id=user.pk))
    for account in accounts:
        provider, uid = account.provider, account.uid
        account.delete()
        # The same event as an unlink on the connections page (audit.receivers), with why.
        record(
            action="auth.social.disconnected",
            actor=actor,
            target=user,
            request=request,
            metadata={"door": _door(request), "provider": provider, "uid": uid, "reason": reason},
        )
    return len(accounts)


def credentials_revoke_on_email_proof(
    *,
    user: User,
    actor,
    request=None,
    reason: str,
    keep_web_session_key: str | None = None,
) -> dict[str, int]:
    """End every session, API key and social link of an account whose address was unproven.

    Call it when its owner has just proven control of the address; only the session that
    gave the proof (``keep_web_session_key``) stays. Audits ``session.revoked``,
    ``apikey.revoked`` and ``auth.social.disconnected`` (each with ``reason``).
    """
    with transaction.atomic():
        return {
            "sessions": revoke_user_sessions(
                user=user,
                actor=actor,
                request=request,
                reason=reason,
                keep_web_session_key=keep_web_session_key,
            ),
            "api_keys": api_keys_revoke_all(user=user, actor=actor, request=request, reason=reason),
            "social_accounts": _social_accounts_remove(
                user=user, actor=actor, request=request, reason=reason
            ),
        }


def credentials_revoke_on_password_change(
    *,
    user: User,
    actor,
    request=None,
    api_keys: str = API_KEYS_RECENT,
    reason: str = "password_changed",
    keep_web_session_key: str | None = None,
    keep_api_session_id: str | None = None,
) -> dict[str, int]:
    """End every other session of ``user`` and the API keys ``api_keys`` names.

    ``recent``: keys created within ``RECENT_API_KEY_WINDOW`` before now; ``all``; ``none``.
    """
    if api_keys not in API_KEY_CHOICES:
        raise ValueError(f"Unknown API key choice {api_keys!r}.")
    with transaction.atomic():
        revoked = {
            "sessions": revoke_user_sessions(
                user=user,
                actor=actor,
                request=request,
                reason=reason,
                keep_web_session_key=keep_web_session_key,
                keep_api_session_id=keep_api_session_id,
            ),
            "api_keys": 0,
        }
        if api_keys != API_KEYS_NONE:
            since = timezone.now() - RECENT_API_KEY_WINDOW if api_keys == API_KEYS_RECENT else None
            revoked["api_keys"] = api_keys_revoke_all(
                user=user, actor=actor, request=request, reason=reason, created_since=since
            )
        notices.password_changed(user=user, reason=reason)
    return revoked


def credentials_revoke_on_mfa_change(
    *,
    user: User,
    actor,
    request=None,
    reason: str,
    keep_web_session_key: str | None = None,
) -> int:
    """End the user's other sessions (all of them when nothing is kept) after an MFA change,
    and tell the user."""
    with transaction.atomic():
        notices.mfa_changed(user=user, reason=reason)
        return revoke_user_sessions(
            user=user,
            actor=actor,
            request=request,
            reason=reason,
            keep_web_session_key=keep_web_session_key,
        )


# --- the page door: allauth's signals ------------------------------------------------------


def _is_api(request) -> bool:
    return (getattr(request, "path", "") or "").startswith("/api/")


def _door(request) -> str:
    path = getattr(request, "path", "") or ""
    return "admin" if path.startswith("/admin/") else "api" if _is_api(request) else "page"


def _own_session_key(request, user: User) -> str | None:
    """The session key of the browser making ``request``, if it is signed in as ``user``."""
    session = getattr(request, "session", None)
    if session is None or getattr(request, "user", None) != user:
        return None
    return session.session_key


def _actor_of(request, user: User):
    acting = getattr(request, "user", None)
    return acting if getattr(acting, "is_authenticated", False) else user


def _mark_reset_address_verified(request, user: User) -> None:
    """The reset link went to the account's one address: it is proven now. With several
    addresses there is no telling which one received the link, so none is marked."""
    addresses = list(EmailAddress.objects.filter(user_id=user.pk)[:2])
    if len(addresses) > 1:
        return
    if not addresses:
        if not user.email:
            return
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
        email = user.email
    else:
        email = addresses[0].email
    try:
        address = EmailAddress.objects.get_for_user(user, email)
    except EmailAddress.DoesNotExist:
        return
    _confirm_address(request, address)


def _confirm_address(request, address: EmailAddress) -> None:
    """What allauth's confirmation link does to an address (verified, primary, the
    ``email_confirmed`` and ``email_changed`` signals, the page's message), for a proof made
    through the reset link. The account has this one address (the caller checked): there is
    no other address to remove or to tell about the change."""
    if address.verified:
        return
    adapter = get_adapter(request)
    if not address.set_verified(commit=False):
        adapter.add_message(
            request,
            messages.ERROR,
            "account/messages/email_confirmation_failed.txt",
            {"email": address.email},
        )
        return
    address.set_as_primary(conditional=not account_settings.CHANGE_EMAIL)
    address.save()
    account_signals.email_confirmed.send(
        sender=EmailAddress, request=request, email_address=address
    )
    if account_settings.CHANGE_EMAIL:
        account_signals.email_changed.send(
            sender=EmailAddress,
            request=request,
            user=address.user,
            from_email_address=None,
            to_email_address=address,
        )
    adapter.add_message(
        request, messages.SUCCESS, "account/messages/email_confirmed.txt", {"email": address.email}
    )


def on_password_changed(sender, request, user, signal=None, **kwargs) -> None:
    """allauth's password change, set and reset on the pages. The API's password change
    calls ``credentials_revoke_on_password_change`` itself."""
    if _is_api(request):
        return
    keep = _own_session_key(request, user)
    if signal is account_signals.password_reset and not account_has_verified_email(user):
        credentials_revoke_on_email_proof(
            user=user,
            actor=user,
            request=request,
            reason="password_reset",
            keep_web_session_key=keep,
        )
        notices.password_changed(user=user, reason="password_reset")
        _mark_reset_address_verified(request, user)
        return
    if signal is account_signals.password_set:
        # A first password (e.g. after a social sign-up) replaces nothing that could have
        # been phished: the other sessions end, the keys stay.
        choice = API_KEYS_NONE
    else:
        post = getattr(request, "POST", None) or {}
        choice = api_key_choice(post.get(API_KEYS_FIELD))
    credentials_revoke_on_password_change(
        user=user,
        actor=user,
        request=request,
        api_keys=choice,
        reason="password_reset" if signal is account_signals.password_reset else "password_changed",
        keep_web_session_key=keep,
    )


def on_email_confirmed(sender, request, email_address, **kwargs) -> None:
    """The first verified address of an account proves its owner: what came before ends."""
    user = email_address.user
    if account_has_verified_email(user, excluding_address_id=email_address.pk):
        return
    credentials_revoke_on_email_proof(
        user=user,
        actor=_actor_of(request, user),
        request=request,
        reason="email_confirmed",
        keep_web_session_key=_own_session_key(request, user),
    )


def on_authenticator_changed(sender, request, user, **kwargs) -> None:
    """An authenticator added or removed, or recovery codes regenerated, on the pages."""
    credentials_revoke_on_mfa_change(
        user=user,
        actor=user,
        request=request,
        reason="mfa_changed",
        keep_web_session_key=_own_session_key(request, user),
    )
