"""Audit events for what allauth and Django auth do on the pages (and the admin login).

Connected in ``AuditConfig.ready()``. Action names:

- ``auth.login.succeeded`` / ``auth.login.failed`` / ``auth.logout`` (Django auth signals)
- ``auth.password.changed`` (metadata ``kind``: ``changed`` or ``set``), ``auth.password.reset``
- ``auth.email.added`` / ``auth.email.confirmed`` / ``auth.email.changed`` / ``auth.email.removed``
- ``user.created`` (page signup; skipped when a service already recorded it)
- ``auth.mfa.enabled`` / ``auth.mfa.disabled`` (an authenticator added / removed, metadata
  ``authenticator``: ``totp``, ``recovery_codes`` or ``webauthn``),
  ``auth.mfa.recovery_codes.regenerated``, ``auth.mfa.recovery_code.used``, ``auth.mfa.failed``
- ``auth.social.connected`` / ``auth.social.disconnected`` (a social account linked on the
  connections page or by a social sign-up, or unlinked; metadata ``provider`` and ``uid``,
  never the provider's tokens)

The API door (``/api/...``) records its own sign-in events in the accounts services, so the
login/logout receivers ignore requests on API paths: one event per thing that happened.
A login without an HTTP request behind it (the test client's ``force_login``, a shell) is
not a sign-in and is not recorded.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from audit.services import record


def _served(request) -> bool:
    return request is not None and bool(getattr(request, "path", ""))


def _is_api(request) -> bool:
    path = getattr(request, "path", "") or ""
    return path.startswith("/api/")


def _door(request) -> str:
    path = getattr(request, "path", "") or ""
    return "admin" if path.startswith("/admin/") else "page"


def _login_method(request, user) -> dict[str, str]:
    """How the sign-in was made, from allauth's record of the session's authentication
    steps: a provider sign-in names its provider type (``saml``, ``github``, ...) and the
    app (for SAML, the organization's); the second factor is not the method."""
    from allauth.account.authentication import get_authentication_records

    session = getattr(request, "session", None)
    if session is None:
        return {}
    for step in reversed(get_authentication_records(request, user)):
        if step.get("method") == "socialaccount":
            from allauth.socialaccount.adapter import get_adapter
            from allauth.socialaccount.models import SocialApp
            from django.core.exceptions import ImproperlyConfigured

            provider = str(step.get("provider", ""))
            try:
                kind = get_adapter().get_provider(request, provider).id
            except (SocialApp.DoesNotExist, ImproperlyConfigured):
                kind = "social"  # an app removed meanwhile: still a provider sign-in
            return {"method": kind, "provider": provider}
        if step.get("method") not in ("mfa", "reauthenticate"):
            return {"method": str(step.get("method"))}
    return {}


def on_user_logged_in(sender, request, user, **kwargs: Any) -> None:
    if not _served(request) or _is_api(request):
        return
    record(
        action="auth.login.succeeded",
        actor=user,
        target=user,
        request=request,
        metadata={"door": _door(request), **_login_method(request, user)},
    )


def on_user_login_failed(sender, credentials: dict, request=None, **kwargs: Any) -> None:
    if not _served(request) or _is_api(request):
        return
    identifier = str(credentials.get("email") or credentials.get("username") or "")[:254]
    # The account owner sees attempts on their account in their security log.
    target = None
    if identifier:
        user = get_user_model()._default_manager.filter(email__iexact=identifier).first()
        target = user
    record(
        action="auth.login.failed",
        actor=None,
        target=target,
        request=request,
        metadata={"door": _door(request), "identifier": identifier},
    )


def on_user_logged_out(sender, request, user, **kwargs: Any) -> None:
    if user is None or not _served(request) or _is_api(request):
        return
    record(
        action="auth.logout",
        actor=user,
        target=user,
        request=request,
        metadata={"door": _door(request)},
    )


def on_password_changed(sender, request, user, **kwargs: Any) -> None:
    if _is_api(request):
        return
    record(
        action="auth.password.changed",
        actor=user,
        target=user,
        request=request,
        metadata={"door": _door(request), "kind": "changed"},
    )


def on_password_set(sender, request, user, **kwargs: Any) -> None:
    if _is_api(request):
        return
    record(
        action="auth.password.changed",
        actor=user,
        target=user,
        request=request,
        metadata={"door": _door(request), "kind": "set"},
    )


def on_password_reset(sender, request, user, **kwargs: Any) -> None:
    if _is_api(request):
        return
    record(
        action="auth.password.reset",
        actor=user,
        target=user,
        request=request,
        metadata={"door": _door(request)},
    )


def _email_event(action: str, request, user, email_address, **extra) -> None:
    record(
        action=action,
        actor=user,
        target=user,
        request=request,
        metadata={
            "door": _door(request),
            "email": getattr(email_address, "email", ""),
            **extra,
        },
    )


def on_email_added(sender, request, user, email_address, **kwargs: Any) -> None:
    _email_event("auth.email.added", request, user, email_address)


def on_email_confirmed(sender, request, email_address, **kwargs: Any) -> None:
    _email_event("auth.email.confirmed", request, email_address.user, email_address)


def on_email_changed(
    sender, request, user, from_email_address=None, to_email_address=None, **kwargs: Any
) -> None:
    _email_event(
        "auth.email.changed",
        request,
        user,
        to_email_address,
        previous=getattr(from_email_address, "email", None),
    )


def on_email_removed(sender, request, user, email_address, **kwargs: Any) -> None:
    _email_event("auth.email.removed", request, user, email_address)


def on_user_signed_up(sender, request, user, **kwargs: Any) -> None:
    from audit.models import AuditEvent

    if AuditEvent.objects.filter(action="user.created", target_id=str(user.pk)).exists():
        return
    sociallogin = kwargs.get("sociallogin")
    record(
        action="user.created",
        actor=user,
        target=user,
        request=request,
        metadata={
            "door": _door(request),
            "method": "social" if sociallogin is not None else "password",
            **({"provider": sociallogin.account.provider} if sociallogin is not None else {}),
        },
    )


def _social_event(action: str, request, user, account) -> None:
    record(
        action=action,
        actor=user,
        target=user,
        request=request,
        metadata={
            "door": _door(request),
            "provider": account.provider,
            "uid": account.uid,
        },
    )


def on_social_account_added(sender, request, sociallogin, **kwargs: Any) -> None:
    _social_event("auth.social.connected", request, sociallogin.user, sociallogin.account)


def on_social_account_removed(sender, request, socialaccount, **kwargs: Any) -> None:
    _social_event("auth.social.disconnected", request, socialaccount.user, socialaccount)


def on_social_signed_up(sender, request, user, **kwargs: Any) -> None:
    # allauth sends social_account_added only when an existing user connects; a social
    # sign-up creates the link too, and says so with the sociallogin it passes here.
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is None:
        return
    _social_event("auth.social.connected", request, user, sociallogin.account)


def _authenticator_event(action: str, request, user, authenticator, **extra) -> None:
    record(
        action=action,
        actor=user,
        target=user,
        request=request,
        metadata={
            "door": _door(request),
            "authenticator": getattr(authenticator, "type", ""),
            # None once the authenticator is deleted (allauth signals after the delete).
            "authenticator_id": str(authenticator.pk)
            if getattr(authenticator, "pk", None)
            else None,
            **extra,
        },
    )


def on_authenticator_added(sender, request, user, authenticator, **kwargs: Any) -> None:
    _authenticator_event("auth.mfa.enabled", request, user, authenticator)


def on_authenticator_removed(sender, request, user, authenticator, **kwargs: Any) -> None:
    _authenticator_event("auth.mfa.disabled", request, user, authenticator)


def on_authenticator_reset(sender, request, user, authenticator, **kwargs: Any) -> None:
    _authenticator_event("auth.mfa.recovery_codes.regenerated", request, user, authenticator)


def on_authenticator_used(sender, request, user, authenticator, **kwargs: Any) -> None:
    # Only recovery codes are worth an event of their own: each one works once, so the
    # owner must see when one was spent. TOTP/WebAuthn use is part of the login event.
    if getattr(authenticator, "type", "") != "recovery_codes":
        return
    _authenticator_event(
        "auth.mfa.recovery_code.used",
        request,
        user,
        authenticator,
        reauthenticated=bool(kwargs.get("reauthenticated")),
    )


def on_mfa_failed(sender, request, user, authenticator=None, **kwargs: Any) -> None:
    _authenticator_event("auth.mfa.failed", request, user, authenticator)


def connect() -> None:
    from allauth.account import signals as account_signals
    from allauth.mfa import signals as mfa_signals
    from allauth.socialaccount import signals as social_signals
    from django.contrib.admin.models import LogEntry
    from django.db.models.signals import post_save

    from audit.admin_mixins import record_log_entry

    pairs = [
        (user_logged_in, on_user_logged_in),
        (user_login_failed, on_user_login_failed),
        (user_logged_out, on_user_logged_out),
        (account_signals.password_changed, on_password_changed),
        (account_signals.password_set, on_password_set),
        (account_signals.password_reset, on_password_reset),
        (account_signals.email_added, on_email_added),
        (account_signals.email_confirmed, on_email_confirmed),
        (account_signals.email_changed, on_email_changed),
        (account_signals.email_removed, on_email_removed),
        (account_signals.user_signed_up, on_user_signed_up),
        (account_signals.user_signed_up, on_social_signed_up),
        (social_signals.social_account_added, on_social_account_added),
        (social_signals.social_account_removed, on_social_account_removed),
        (mfa_signals.authenticator_added, on_authenticator_added),
        (mfa_signals.authenticator_removed, on_authenticator_removed),
        (mfa_signals.authenticator_reset, on_authenticator_reset),
        (mfa_signals.authenticator_used, on_authenticator_used),
        (mfa_signals.authentication_failed, on_mfa_failed),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, dispatch_uid=f"audit.{receiver.__name__}")
    post_save.connect(record_log_entry, sender=LogEntry, dispatch_uid="audit.record_log_entry")
