"""What an audit event means, in words a person reads ("You signed in").

The one mapping of action codes to sentences: the security log page shows these beside the
code (the code stays for support). An action without an entry here shows only its code.
Sentences speak to the person whose log it is; the "Who" column says who acted.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

ACTION_WORDS = {
    "auth.login.succeeded": _("You signed in"),
    "auth.login.failed": _("A sign-in failed"),
    "auth.logout": _("You signed out"),
    "auth.lockout": _("Sign-in locked after too many failed attempts"),
    "auth.password.changed": _("Password changed"),
    "auth.password.reset": _("Password reset"),
    "auth.password.reset_requested": _("Password reset requested"),
    "auth.email.added": _("Email address added"),
    "auth.email.confirmed": _("Email address confirmed"),
    "auth.email.changed": _("Primary email address changed"),
    "auth.email.removed": _("Email address removed"),
    "auth.email.verification_sent": _("Confirmation email sent"),
    "auth.mfa.enabled": _("Two-factor turned on"),
    "auth.mfa.disabled": _("Two-factor turned off"),
    "auth.mfa.failed": _("A two-factor code was wrong"),
    "auth.mfa.recovery_codes.regenerated": _("New recovery codes made"),
    "auth.mfa.recovery_code.used": _("A recovery code was used"),
    "auth.mfa.sms.added": _("Phone added for codes by text message"),
    "auth.mfa.sms.removed": _("Phone for codes by text message removed"),
    "auth.social.connected": _("Account connected"),
    "auth.social.disconnected": _("Account disconnected"),
    "auth.token.refreshed": _("A program renewed its sign-in"),
    "auth.token.reused": _("An old sign-in token was reused; that sign-in was ended"),
    "session.revoked": _("A session was signed out"),
    "apikey.created": _("API key created"),
    "apikey.revoked": _("API key revoked"),
    "apikey.used_from_new_ip": _("API key used from a new address"),
    "user.created": _("Account created"),
    "user.updated": _("Profile changed"),
    "user.settings.updated": _("Settings changed"),
    "user.roles.changed": _("Roles changed"),
    "user.deactivated": _("Account deactivated"),
    "user.deleted": _("Account deleted"),
    "slot.created": _("Slot created"),
    "slot.updated": _("Slot changed"),
    "slot.released": _("Slot released"),
    "slot.status.changed": _("Slot status changed"),
    "slot.credentials.changed": _("Slot credentials changed"),
    "usage.quota.exceeded": _("Usage quota reached"),
    "oidc.authorized": _("You let an application sign you in"),
    "oidc.token.issued": _("An application signed you in"),
    "oidc.revoked": _("An application's access was revoked"),
}

# The authenticator of an auth.mfa.* event (its metadata "authenticator").
AUTHENTICATOR_WORDS = {
    "totp": _("authenticator app"),
    "recovery_codes": _("recovery codes"),
    "webauthn": _("security key or passkey"),
    "sms": _("text message"),
}


def describe(action: str, metadata: dict | None = None) -> str:
    """The sentence for an event, or "" when the action has none."""
    words = ACTION_WORDS.get(action)
    if words is None:
        return ""
    metadata = metadata if isinstance(metadata, dict) else {}
    detail = ""
    if action.startswith("auth.mfa."):
        detail = AUTHENTICATOR_WORDS.get(str(metadata.get("authenticator", "")), "")
    elif action.startswith("auth.social.") and metadata.get("provider"):
        detail = str(metadata["provider"]).capitalize()
    if detail:
        return pgettext_lazy("security log: what happened (how)", "%(what)s (%(how)s)") % {
            "what": words,
            "how": detail,
        }
    return str(words)
