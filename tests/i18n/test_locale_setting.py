"""One language setting: migration 0009 folds the registry's former ``language`` into the
profile's ``locale``; the profile accepts only languages Roster is translated into."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from accounts.i18n import language_of, supported_language
from accounts.models import SettingDefinition, UserSetting
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

fold = importlib.import_module(
    "accounts.migrations.0009_language_setting_into_profile_locale"
).fold_language_into_locale


def test_the_registry_language_folds_into_the_profile_locale():
    definition = SettingDefinition.objects.create(
        key="language",
        type="choice",
        category="preferences",
        default="en",
        choices=["en", "de", "fr", "pt-br"],
    )
    chose_german = UserFactory(locale="en")
    kept_profile = UserFactory(locale="fr")
    chose_unknown = UserFactory(locale="en")
    regional = UserFactory(locale="de-ch")
    unknown = UserFactory(locale="pt-br")
    UserSetting.objects.create(user=chose_german, definition=definition, value="de")
    UserSetting.objects.create(user=kept_profile, definition=definition, value="de")
    UserSetting.objects.create(user=chose_unknown, definition=definition, value="pt-br")

    fold(apps, None)

    locales = {
        u: type(u).objects.get(pk=u.pk).locale
        for u in (chose_german, kept_profile, chose_unknown, regional, unknown)
    }
    assert list(locales.values()) == ["de", "fr", "en", "de", "en"]
    assert not SettingDefinition.objects.filter(key="language").exists()
    assert not UserSetting.objects.filter(definition_id=definition.pk).exists()


@pytest.mark.parametrize(
    "code, expected",
    [("de", "de"), ("DE", "de"), ("de_CH", "de"), ("fr-ca", "fr"), ("pt-br", None), ("", None)],
)
def test_supported_language(code, expected):
    assert supported_language(code) == expected


def test_language_of_falls_back_to_english():
    assert language_of(UserFactory.build(locale="xx")) == "en"
    assert language_of(None) == "en"
