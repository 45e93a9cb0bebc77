"""The ``date_format`` preference offers ``medium``: day, abbreviated month, year
("7 Dec 2026"), the month named in the reader's language.

Added to the definition's choices unless an admin already removed the definition; the
description names it only while it is still the seeded one (an admin's own text stays).
"""

from django.db import migrations

SEEDED_DESCRIPTION = "Date order: 2025-01-31 (iso), 31/01/2025 (dmy), 01/31/2025 (mdy)."
DESCRIPTION = (
    "Date order: 2025-01-31 (iso), 31/01/2025 (dmy), 01/31/2025 (mdy), "
    "31 Jan 2025 (medium, the month in your language)."
)


def add_medium(apps, schema_editor):
    SettingDefinition = apps.get_model("accounts", "SettingDefinition")
    definition = SettingDefinition.objects.filter(key="date_format").first()
    if definition is None:
        return
    choices = list(definition.choices or [])
    if "medium" not in choices:
        definition.choices = [*choices, "medium"]
    if definition.description == SEEDED_DESCRIPTION:
        definition.description = DESCRIPTION
    definition.save(update_fields=["choices", "description"])


def remove_medium(apps, schema_editor):
    SettingDefinition = apps.get_model("accounts", "SettingDefinition")
    UserSetting = apps.get_model("accounts", "UserSetting")
    definition = SettingDefinition.objects.filter(key="date_format").first()
    if definition is None:
        return
    UserSetting.objects.filter(definition=definition, value="medium").delete()
    definition.choices = [c for c in definition.choices or [] if c != "medium"]
    if definition.description == DESCRIPTION:
        definition.description = SEEDED_DESCRIPTION
    definition.save(update_fields=["choices", "description"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_sms_authenticator"),
    ]

    operations = [migrations.RunPython(add_medium, remove_medium)]
