"""The Django admin of setting definitions: coherence checks and invalid stored values."""

import pytest
from django.test import Client

from accounts.models import SettingDefinition, UserSetting
from accounts.services.settings import settings_update
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LIST = "/admin/accounts/settingdefinition/"


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(definition: SettingDefinition, **overrides) -> dict:
    data = {
        "key": definition.key,
        "type": definition.type,
        "category": definition.category,
        "description": definition.description,
        "default": '"auto"',
        "choices": '["light", "dark", "auto"]',
        "min_value": "",
        "max_value": "",
        "max_length": "",
        "pattern": "",
        "json_schema": "null",
        "is_public": "",
    }
    data.update(overrides)
    return data


def test_admin_lists_definitions(admin_user):
    response = _admin(admin_user).get(LIST)
    assert response.status_code == 200
    assert b"profile_visibility" in response.content


def test_admin_managers_cannot_change_definitions(manager, admin_user):
    theme = SettingDefinition.objects.get(key="theme")
    response = _admin(manager).post(f"{LIST}{theme.pk}/change/", _form(theme, default='"dark"'))
    assert response.status_code == 403
    theme.refresh_from_db()
    assert theme.default == "auto"


def test_admin_refuses_an_incoherent_definition(admin_user):
    theme = SettingDefinition.objects.get(key="theme")
    response = _admin(admin_user).post(f"{LIST}{theme.pk}/change/", _form(theme, default='"sepia"'))
    assert response.status_code == 200  # the form again, with the error
    assert b"The default breaks the definition" in response.content
    theme.refresh_from_db()
    assert theme.default == "auto"


def test_admin_change_is_audited_and_keeps_stored_values(admin_user, member):
    settings_update(user=member, values={"theme": "dark"}, actor=member)
    theme = SettingDefinition.objects.get(key="theme")
    response = _admin(admin_user).post(
        f"{LIST}{theme.pk}/change/", _form(theme, choices='["light", "auto"]')
    )
    assert response.status_code == 302, response.content[:3000]
    theme.refresh_from_db()
    assert theme.choices == ["light", "auto"]
    assert UserSetting.objects.get(user=member, definition=theme).value == "dark"
    event = AuditEvent.objects.get(action="admin.accounts.settingdefinition.updated")
    assert event.actor_id == str(admin_user.pk)
    assert event.changes["choices"] == [["light", "dark", "auto"], ["light", "auto"]]


def test_admin_change_page_reports_invalid_stored_values(admin_user, member, other_member):
    settings_update(user=member, values={"theme": "dark"}, actor=member)
    settings_update(user=other_member, values={"theme": "light"}, actor=other_member)
    theme = SettingDefinition.objects.get(key="theme")
    theme.choices = ["light", "auto"]
    theme.save()
    page = _admin(admin_user).get(f"{LIST}{theme.pk}/change/").content.decode()
    assert "1 stored value(s) read back as the default" in page
    assert member.email in page and other_member.email not in page


def test_admin_action_clears_invalid_values(admin_user, member):
    settings_update(user=member, values={"theme": "dark"}, actor=member)
    theme = SettingDefinition.objects.get(key="theme")
    theme.choices = ["light", "auto"]
    theme.save()
    response = _admin(admin_user).post(
        LIST, {"action": "clear_invalid_values", "_selected_action": [theme.pk]}, follow=True
    )
    assert b"1 invalid stored value removed" in response.content
    assert not UserSetting.objects.filter(definition=theme).exists()
    assert AuditEvent.objects.filter(action="setting_definition.invalid_values_cleared").exists()


def test_admin_adds_a_json_definition_with_a_schema(admin_user):
    response = _admin(admin_user).post(
        f"{LIST}add/",
        {
            "key": "shortcuts",
            "type": "json",
            "category": "preferences",
            "description": "Keyboard shortcuts",
            "default": "{}",
            "choices": "[]",
            "min_value": "",
            "max_value": "",
            "max_length": "",
            "pattern": "",
            "json_schema": '{"type": "object", "additionalProperties": {"type": "string"}}',
        },
    )
    assert response.status_code == 302, response.content[:3000]
    assert SettingDefinition.objects.get(key="shortcuts").json_schema["type"] == "object"


def test_admin_refuses_a_broken_schema_and_a_bad_key(admin_user):
    response = _admin(admin_user).post(
        f"{LIST}add/",
        {
            "key": "Bad Key",
            "type": "json",
            "category": "preferences",
            "default": "{}",
            "choices": "[]",
            "json_schema": '{"type": 5}',
        },
    )
    assert response.status_code == 200
    assert not SettingDefinition.objects.filter(key="Bad Key").exists()
