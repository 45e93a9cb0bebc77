"""One language setting: the settings registry's ``language`` preference (saved, never used)
folds into the profile's ``locale``, which the pages, emails and API errors follow.

A user who chose a language in the registry while their profile kept the default (``en``)
gets that language; every profile locale then becomes one Roster is translated into
(settings.LANGUAGES): a regional variant reads as its language (``de-ch``: ``de``), any other
code as ``en``, what those users were shown anyway. The ``language`` definition and its
stored values are removed.
"""

from django.db import migrations

DEFAULT = "en"
LANGUAGES = ("en", "de", "fr")  # settings.LANGUAGES when this was written


def _supported(code):
    if not isinstance(code, str) or not code:
        return None
    code = code.replace("_", "-").lower()
    if code in LANGUAGES:
        return code
    base = code.split("-")[0]
    return base if base in LANGUAGES else None


def fold_language_into_locale(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    SettingDefinition = apps.get_model("accounts", "SettingDefinition")
    UserSetting = apps.get_model("accounts", "UserSetting")
    definition = SettingDefinition.objects.filter(key="language").first()
    if definition is not None:
        chosen = UserSetting.objects.filter(definition=definition).select_related("user")
        for stored in chosen.iterator():
            language = _supported(stored.value)
            user = stored.user
            if language and _supported(user.locale) in (None, DEFAULT):
                User.objects.filter(pk=user.pk).update(locale=language)
        definition.delete()  # and its stored values (CASCADE)
    for user in User.objects.only("pk", "locale").iterator():
        locale = _supported(user.locale) or DEFAULT
        if locale != user.locale:
            User.objects.filter(pk=user.pk).update(locale=locale)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_apisession_active_org"),
    ]

    # Not reversible into two settings again: going back keeps the profile's locale only.
    operations = [migrations.RunPython(fold_language_into_locale, migrations.RunPython.noop)]
