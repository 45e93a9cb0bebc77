"""The personal data export (GET /users/me/export and the account page's download): the user
object, settings, second factors, sign-in links, sessions, API keys and the security log,
then every section the apps above register through ``accounts.hooks``."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.utils import timezone

from accounts import hooks
from accounts.models import ApiKey, ApiSession, User
from accounts.selectors import timestamp, user_as_dict, user_for_api, user_settings
from accounts.sessions import web_session_id
from accounts.sms.models import SmsDevice
from audit.masking import mask
from audit.personal import revealed_chunks
from audit.selectors import events_of


def _audit_event_as_dict(event, revealed) -> dict[str, Any]:
    # ``revealed``: the personal values decrypted (they are stored encrypted, audit.personal).
    return {
        "id": str(event.uuid),
        "occurred_at": timestamp(event.occurred_at),
        "action": event.action,
        "actor": {
            "type": event.actor_type,
            "id": event.actor_id,
            "display": revealed.actor_display,
        },
        "target": {"type": event.target_type, "id": event.target_id},
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "changes": revealed.changes,
        "metadata": revealed.metadata,
    }


def user_export(*, user: User) -> dict[str, Any]:
    """Everything Roster holds about the user, as one JSON document.

    Secrets are never part of it: no password hash, API-key digest, session key, MFA secret
    or social-login token.
    """
    fresh = user_for_api(user_id=user.pk)
    events = events_of(user).order_by("id")
    return {
        "exported_at": timestamp(timezone.now()),
        "format": "roster.export.v1",
        "profile": {
            **user_as_dict(fresh, admin_fields=True),
            "deactivated_at": timestamp(fresh.deactivated_at),
            "erasure_due_at": timestamp(fresh.erasure_due_at),
        },
        "email_addresses": [
            {"email": e.email, "verified": e.verified, "primary": e.primary}
            for e in EmailAddress.objects.filter(user=user).order_by("id")
        ],
        "settings": user_settings(user=user),
        "mfa": _export_mfa(user),
        "social_accounts": _export_social_accounts(user),
        "sessions": {"web": _export_web_sessions(user), "api": _export_api_sessions(user)},
        "api_keys": _export_api_keys(user),
        # The other apps' sections (slots, usage), registered with accounts.hooks.
        **hooks.export_sections(user=user),
        "audit_events": [
            _audit_event_as_dict(e, shown)
            for e, shown in revealed_chunks(events.iterator(chunk_size=1000), chunk_size=1000)
        ],
    }


def _export_mfa(user: User) -> list[dict[str, Any]]:
    exported = [
        {
            "type": a.type,
            "created_at": timestamp(a.created_at),
            "last_used_at": timestamp(a.last_used_at),
        }
        for a in Authenticator.objects.filter(user=user).order_by("id")
    ]
    exported += [
        {
            "type": "sms",
            "phone": d.phone,
            "created_at": timestamp(d.created_at),
            "last_used_at": timestamp(d.last_used_at),
        }
        for d in SmsDevice.objects.filter(user=user)
    ]
    return exported


def _export_social_accounts(user: User) -> list[dict[str, Any]]:
    return [
        {
            "provider": s.provider,
            "uid": s.uid,
            "date_joined": timestamp(s.date_joined),
            "last_login": timestamp(s.last_login),
            "extra_data": mask(s.extra_data),
        }
        for s in SocialAccount.objects.filter(user=user).order_by("id")
    ]


def _export_web_sessions(user: User) -> list[dict[str, Any]]:
    return [
        {
            "id": web_session_id(s.session_key),
            "created_at": timestamp(s.created_at),
            "last_seen_at": timestamp(s.last_seen_at),
            "ip": s.ip,
            "user_agent": s.user_agent,
        }
        for s in UserSession.objects.filter(user=user).order_by("created_at")
    ]


def _export_api_sessions(user: User) -> list[dict[str, Any]]:
    return [
        {
            "id": str(s.id),
            "created_at": timestamp(s.created_at),
            "last_seen_at": timestamp(s.last_seen_at),
            "expires_at": timestamp(s.expires_at),
            "revoked_at": timestamp(s.revoked_at),
            "ip": s.ip,
            "user_agent": s.user_agent,
        }
        for s in ApiSession.objects.filter(user=user).order_by("created_at")
    ]


def _export_api_keys(user: User) -> list[dict[str, Any]]:
    return [
        {
            "id": str(k.id),
            "name": k.name,
            "prefix": k.shown_prefix,
            "scopes": k.scopes,
            "created_at": timestamp(k.created_at),
            "expires_at": timestamp(k.expires_at),
            "last_used_at": timestamp(k.last_used_at),
            "last_used_ip": k.last_used_ip,
            "revoked_at": timestamp(k.revoked_at),
        }
        for k in ApiKey.objects.filter(user=user).order_by("created_at")
    ]
