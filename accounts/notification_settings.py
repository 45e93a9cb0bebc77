"""Which notification kinds also go by email: one boolean setting per kind in the settings
registry (``notifications.email.<kind>``, category ``notifications``).

The kinds are listed once, in ``notifications.kinds``; ``notifications`` sits below
``accounts`` in the layers and knows nothing of settings. So accounts, which owns the
registry, does both halves from its ``AppConfig.ready()``: it keeps a definition per kind
in the registry (on every migrate, so a flush or a new kind is followed), and it registers
the reader that ``notifications.services.notify`` asks before sending an email
(``notifications.delivery.register_email_preference``). A user changes these through the
ordinary settings doors (``PATCH /api/v1/users/me/settings``, the settings page).
"""

from __future__ import annotations

from accounts import settings_registry
from accounts.models import SettingDefinition, UserSetting
from notifications.kinds import EMAIL_BY_DEFAULT, Kind

CATEGORY = "notifications"
KEY_PREFIX = "notifications.email."


def setting_key(kind: str) -> str:
    return f"{KEY_PREFIX}{kind}"


def ensure_definitions(sender=None, using: str = "default", **kwargs) -> None:
    """One boolean definition per kind; an admin's later edits of a definition are kept."""
    for kind in Kind:
        SettingDefinition.objects.using(using).get_or_create(
            key=setting_key(kind.value),
            defaults={
                "type": SettingDefinition.Type.BOOLEAN,
                "category": CATEGORY,
                "default": kind in EMAIL_BY_DEFAULT,
                "description": f"Also send “{kind.label}” notifications by email.",
            },
        )


def wants_email(*, user, kind: str) -> bool:
    """The user's effective value of the kind's setting (stored if valid, else the default);
    no definition (an admin deleted it) means no email."""
    definition = SettingDefinition.objects.filter(key=setting_key(kind)).first()
    if definition is None:
        return False
    stored = list(
        UserSetting.objects.filter(user=user, definition=definition).values_list(
            "value", flat=True
        )[:1]
    )
    return bool(
        settings_registry.effective_value(
            definition, stored[0] if stored else None, has_stored=bool(stored)
        )
    )
