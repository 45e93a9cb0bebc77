"""Seed the settings registry with the preferences and privacy settings users expect.

Existing keys are left alone, so an admin's edits survive re-running this migration.
The language is not here: it is the profile's ``locale`` (0009 folded a former
``language`` setting into it).
"""

from django.db import migrations

DEFINITIONS = [
    # --- preferences: how Roster looks and behaves for the user ----------------------
    {
        "key": "theme",
        "type": "choice",
        "category": "preferences",
        "default": "auto",
        "choices": ["light", "dark", "auto"],
        "is_public": False,
        "description": "Colour scheme of the pages; auto follows the operating system.",
    },
    {
        "key": "timezone_display",
        "type": "choice",
        "category": "preferences",
        "default": "local",
        "choices": ["local", "utc"],
        "is_public": False,
        "description": "Show times in the profile's time zone (local) or in UTC.",
    },
    {
        "key": "time_format",
        "type": "choice",
        "category": "preferences",
        "default": "24h",
        "choices": ["24h", "12h"],
        "is_public": False,
        "description": "Clock used when showing times.",
    },
    {
        "key": "date_format",
        "type": "choice",
        "category": "preferences",
        "default": "iso",
        "choices": ["iso", "dmy", "mdy"],
        "is_public": False,
        "description": "Date order: 2025-01-31 (iso), 31/01/2025 (dmy), 01/31/2025 (mdy).",
    },
    {
        "key": "page_size",
        "type": "integer",
        "category": "preferences",
        "default": 50,
        "min_value": 10,
        "max_value": 200,
        "is_public": False,
        "description": "Rows per page in lists.",
    },
    {
        "key": "accent_color",
        "type": "string",
        "category": "preferences",
        "default": "#2563eb",
        "pattern": r"#[0-9a-fA-F]{6}",
        "max_length": 7,
        "is_public": False,
        "description": "Accent colour of the pages, as #rrggbb.",
    },
    {
        "key": "dashboard.widgets",
        "type": "json",
        "category": "preferences",
        "default": ["slots", "usage"],
        "json_schema": {
            "type": "array",
            "items": {"enum": ["slots", "usage", "security", "api_keys", "sessions"]},
            "uniqueItems": True,
            "maxItems": 5,
        },
        "is_public": False,
        "description": "Widgets shown on the account overview, in order.",
    },
    # --- notifications: what Roster emails the user about ----------------------------
    {
        "key": "notifications.email",
        "type": "boolean",
        "category": "notifications",
        "default": True,
        "is_public": False,
        "description": "Receive account notifications by email.",
    },
    {
        "key": "notifications.security_alerts",
        "type": "boolean",
        "category": "notifications",
        "default": True,
        "is_public": False,
        "description": "Email me about new sign-ins, password and MFA changes.",
    },
    {
        "key": "notifications.usage_alerts",
        "type": "boolean",
        "category": "notifications",
        "default": True,
        "is_public": False,
        "description": "Email me when my usage nears a quota.",
    },
    {
        "key": "notifications.digest",
        "type": "choice",
        "category": "notifications",
        "default": "weekly",
        "choices": ["never", "daily", "weekly"],
        "is_public": False,
        "description": "How often to send an activity summary.",
    },
    # --- privacy: what others and Roster may do with the user's data -----------------
    {
        "key": "profile_visibility",
        "type": "choice",
        "category": "privacy",
        "default": "private",
        "choices": ["private", "team", "public"],
        "is_public": True,
        "description": "Who can see your profile: only you and admins, your team, or anyone.",
    },
    {
        "key": "show_activity_status",
        "type": "boolean",
        "category": "privacy",
        "default": False,
        "is_public": True,
        "description": "Let others see when you were last active.",
    },
    {
        "key": "data_sharing",
        "type": "boolean",
        "category": "privacy",
        "default": False,
        "is_public": False,
        "description": "Share anonymised usage data to help improve the service.",
    },
    {
        "key": "marketing_emails",
        "type": "boolean",
        "category": "privacy",
        "default": False,
        "is_public": False,
        "description": "Receive product news and offers by email.",
    },
]


def seed(apps, schema_editor):
    SettingDefinition = apps.get_model("accounts", "SettingDefinition")
    for spec in DEFINITIONS:
        fields = dict(spec)
        key = fields.pop("key")
        SettingDefinition.objects.get_or_create(key=key, defaults=fields)


def unseed(apps, schema_editor):
    SettingDefinition = apps.get_model("accounts", "SettingDefinition")
    SettingDefinition.objects.filter(key__in=[d["key"] for d in DEFINITIONS]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_api_sessions_keys_settings")]

    operations = [migrations.RunPython(seed, unseed)]
