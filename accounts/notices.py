"""The notifications accounts sends about an account's own security: a password changed,
MFA changed, a sign-in from a device the account has not used before.

``notifications`` sits below accounts, so accounts calls ``notify`` directly, from the one
function each change already goes through at every door (``accounts.credentials``), and for
sign-ins from Django's ``user_logged_in`` (pages, admin) and the creation of an API session
(token sign-ins), both connected in ``AccountsConfig.ready()``.

A device is told apart by its user agent, the one trait every door records (allauth's web
sessions and our API sessions). The account's very first sign-in has nothing to compare
with and is not announced; neither is a sign-in without a user agent.
"""

from __future__ import annotations

from allauth.usersessions.models import UserSession
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiSession, User
from config.client_ip import client_ip
from notifications.kinds import Kind
from notifications.models import Notification
from notifications.services import notify


def password_changed(*, user: User, reason: str) -> None:
    reset = reason == "password_reset"
    notify(
        user,
        Kind.PASSWORD_CHANGED,
        _("Your password was reset") if reset else _("Your password was changed"),
        _("If this was not you, reset your password now and review your sessions."),
        priority=Notification.Priority.HIGH,
        data={"reason": reason},
    )


def mfa_changed(*, user: User, reason: str) -> None:
    notify(
        user,
        Kind.MFA_CHANGED,
        _("Your two-factor authentication changed"),
        _(
            "An authenticator or your recovery codes changed. If this was not you, secure "
            "your account now."
        ),
        priority=Notification.Priority.HIGH,
        data={"reason": reason},
    )


def _is_new_device(
    user: User, user_agent: str, *, web_session_key: str = "", api_session_id=None
) -> bool:
    if not user_agent:
        return False
    web = UserSession.objects.filter(user_id=user.pk).exclude(session_key=web_session_key)
    api = ApiSession.objects.filter(user_id=user.pk).exclude(pk=api_session_id)
    if not web.exists() and not api.exists():
        return False  # the first sign-in: nothing to compare with
    # allauth keeps the user agent cut to its column's length.
    web_agent = user_agent[: UserSession._meta.get_field("user_agent").max_length]
    return not (
        web.filter(user_agent=web_agent).exists() or api.filter(user_agent=user_agent).exists()
    )


def _announce(user: User, *, user_agent: str, ip: str | None, door: str) -> None:
    notify(
        user,
        Kind.NEW_DEVICE_SIGN_IN,
        _("New sign-in from a new device"),
        format_lazy(
            _(
                "Your account was signed in to from {agent} at {ip}. If this was not you, "
                "change your password and end that session."
            )
            if ip
            else _(
                "Your account was signed in to from {agent}. If this was not you, change "
                "your password and end that session."
            ),
            agent=user_agent[:200],
            ip=ip,
        ),
        priority=Notification.Priority.HIGH,
        data={"door": door, "ip": ip, "user_agent": user_agent[:512]},
    )


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    """A sign-in through the pages or the admin (allauth has already recorded its session)."""
    if request is None:
        return
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None) or ""
    if _is_new_device(user, user_agent, web_session_key=key):
        _announce(user, user_agent=user_agent, ip=client_ip(request), door="page")


def on_api_session_saved(sender, instance: ApiSession, created: bool, raw=False, **kwargs):
    """A token sign-in: every one creates an API session (``accounts.tokens.token_issue``)."""
    if not created or raw:
        return
    if _is_new_device(instance.user, instance.user_agent, api_session_id=instance.pk):
        _announce(instance.user, user_agent=instance.user_agent, ip=instance.ip, door="api")
