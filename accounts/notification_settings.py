"""Which notifications also go by email: typed settings in the settings registry (category
``notifications``).

- ``notifications.email`` (seeded with the registry) is the master switch: off, no
  notification email at all;
- ``notifications.security_alerts`` (seeded too) covers the security notices: new sign-ins,
  password and MFA changes;
- every other kind has a boolean of its own, ``notifications.email.<kind>``.

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
MASTER_KEY = "notifications.email"
SECURITY_KEY = "notifications.security_alerts"
SECURITY_KINDS = frozenset({Kind.NEW_DEVICE_SIGN_IN, Kind.PASSWORD_CHANGED, Kind.MFA_CHANGED})
KEY_PREFIX = "notifications.email."


def setting_key(kind: str) -> str:
    """The setting that decides whether ``kind`` goes by email (besides the master switch)."""
    return SECURITY_KEY if kind in SECURITY_KINDS else f"{KEY_PREFIX}{kind}"


def ensure_definitions(sender=None, using: str = "default", **kwargs) -> None:
    """A definition per setting above; an admin's later edits of a definition are kept."""
    specs = {
        MASTER_KEY: (True, "Receive account notifications by email."),
        SECURITY_KEY: (True, "Email me about new sign-ins, password and MFA changes."),
    }
    for kind in Kind:
        if kind not in SECURITY_KINDS:
            specs[setting_key(kind)] = (
                kind in EMAIL_BY_DEFAULT,
                f"Also send “{kind.label}” notifications by email.",
            )
    for key, (default, description) in specs.items():
        SettingDefinition.objects.using(using).get_or_create(
            key=key,
            defaults={
                "type": SettingDefinition.Type.BOOLEAN,
                "category": CATEGORY,
                "default": default,
                "description": description,
            },
        )


def wanting_email(*, users, kind: str) -> set:
    """The pks of ``users`` whose master switch and setting for ``kind`` are both on, each
    the user's effective value (stored if still valid, else the default); a definition an
    admin deleted counts as off. Two queries however many users (a team's notification)."""
    keys = [MASTER_KEY, setting_key(kind)]
    definitions = {d.key: d for d in SettingDefinition.objects.filter(key__in=keys)}
    if len(definitions) < len(keys):
        return set()
    stored: dict = {user.pk: {} for user in users}
    rows = UserSetting.objects.filter(
        user_id__in=list(stored), definition__in=definitions.values()
    ).values_list("user_id", "definition_id", "value")
    for user_id, definition_id, value in rows:
        stored[user_id][definition_id] = value
    return {
        pk
        for pk, values in stored.items()
        if all(
            settings_registry.effective_value(d, values.get(d.pk), has_stored=d.pk in values)
            is True
            for d in definitions.values()
        )
    }
