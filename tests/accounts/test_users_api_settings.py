import pytest

from accounts.models import SettingDefinition, UserSetting
from audit.models import AuditEvent
from tests.accounts.users_helpers import api_key_client, assert_error, jwt_client

pytestmark = pytest.mark.django_db

SETTINGS = "/api/v1/users/me/settings"
PREFS = "/api/v1/users/me/preferences"


def _by_key(items):
    return {item["key"]: item for item in items}


def test_settings_anonymous_is_401(anon_client):
    assert_error(anon_client.get(SETTINGS), 401, "not_authenticated")
    assert_error(anon_client.patch(PREFS, {"theme": "dark"}), 401, "not_authenticated")


def test_settings_list_is_typed_and_complete(member, client_for):
    response = client_for(member).get(SETTINGS)
    assert response.status_code == 200
    items = _by_key(response.json())
    assert set(items) == set(SettingDefinition.objects.values_list("key", flat=True))
    theme = items["theme"]
    assert theme == {
        "key": "theme",
        "value": "auto",
        "type": "choice",
        "category": "preferences",
        "description": theme["description"],
        "is_public": False,
        "default": "auto",
    }
    assert items["notifications.email"]["value"] is True
    assert items["profile_visibility"]["category"] == "privacy"


def test_settings_patch_sets_values_and_audits_before_after(member, client_for):
    response = client_for(member).patch(
        SETTINGS, {"theme": "dark", "marketing_emails": True, "page_size": 100}
    )
    assert response.status_code == 200, response.content
    items = _by_key(response.json())
    assert items["theme"]["value"] == "dark"
    assert items["marketing_emails"]["value"] is True
    assert items["page_size"]["value"] == 100
    event = AuditEvent.objects.get(action="user.settings.updated")
    assert event.target_id == str(member.pk)
    assert event.changes == {
        "theme": ["auto", "dark"],
        "marketing_emails": [False, True],
        "page_size": [50, 100],
    }


def test_settings_are_per_user(member, other_member, client_for):
    client_for(member).patch(SETTINGS, {"theme": "dark"})
    assert _by_key(client_for(other_member).get(SETTINGS).json())["theme"]["value"] == "auto"


def test_settings_null_resets_to_default(member, client_for):
    client = client_for(member)
    client.patch(SETTINGS, {"theme": "dark"})
    response = client.patch(SETTINGS, {"theme": None})
    assert _by_key(response.json())["theme"]["value"] == "auto"
    assert not UserSetting.objects.filter(user=member).exists()


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("theme", "sepia", "not_allowed"),
        ("theme", 3, "invalid_type"),
        ("page_size", 5, "min_value"),
        ("page_size", 500, "max_value"),
        ("page_size", "50", "invalid_type"),
        ("page_size", 50.5, "invalid_type"),
        ("marketing_emails", "yes", "invalid_type"),
        ("marketing_emails", 1, "invalid_type"),
        ("accent_color", "red", "pattern"),
        ("accent_color", "#" + "a" * 10_000, "max_length"),
        ("dashboard.widgets", ["slots", "nope"], "json_schema"),
        ("dashboard.widgets", "slots", "json_schema"),
        ("no.such.key", True, "unknown_setting"),
    ],
)
def test_settings_patch_invalid_value_names_key_and_rule(member, client_for, key, value, code):
    response = client_for(member).patch(SETTINGS, {key: value})
    assert_error(response, 400, code, key)


def test_settings_patch_is_all_or_nothing(member, client_for):
    client = client_for(member)
    response = client.patch(SETTINGS, {"theme": "dark", "page_size": 0, "bogus": 1})
    body = assert_error(response, 400, "min_value", "page_size")
    assert ("unknown_setting", "bogus") in [(e["code"], e["attr"]) for e in body["errors"]]
    assert not UserSetting.objects.filter(user=member).exists()
    assert not AuditEvent.objects.filter(action="user.settings.updated").exists()


def test_settings_patch_body_must_be_an_object(member, client_for):
    response = client_for(member).patch(SETTINGS, data='["theme"]', content_type="application/json")
    assert_error(response, 400, "invalid")


def test_settings_patch_too_many_keys(member, client_for):
    response = client_for(member).patch(SETTINGS, {f"k{i}": 1 for i in range(101)})
    assert_error(response, 400, "too_many_keys")


def test_settings_null_bytes_refused(member, client_for):
    response = client_for(member).patch(
        SETTINGS, data='{"accent_color": "#00\\u00000"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert not UserSetting.objects.exists()


def test_settings_string_values_round_trip_unicode_and_sql(member, client_for):
    SettingDefinition.objects.create(
        key="signature", type="string", category="preferences", default="", max_length=200
    )
    client = client_for(member)
    for text in ("שלום 👋🏽", "'); DELETE FROM accounts_usersetting; --"):
        assert client.patch(SETTINGS, {"signature": text}).status_code == 200
        assert client.get(PREFS).json()["signature"] == text


def test_settings_invalid_stored_value_reads_back_as_default(member, client_for):
    client = client_for(member)
    client.patch(SETTINGS, {"theme": "dark"})
    theme = SettingDefinition.objects.get(key="theme")
    theme.choices = ["light", "auto"]  # an admin removes "dark"
    theme.save()
    assert _by_key(client.get(SETTINGS).json())["theme"]["value"] == "auto"
    assert client.get(PREFS).json()["theme"] == "auto"
    # The stored value is kept (the admin reports it), not silently rewritten.
    assert UserSetting.objects.get(user=member, definition=theme).value == "dark"


def test_preferences_is_the_flat_preferences_category(member, client_for):
    response = client_for(member).get(PREFS)
    assert response.status_code == 200
    body = response.json()
    expected = set(
        SettingDefinition.objects.filter(category="preferences").values_list("key", flat=True)
    )
    assert set(body) == expected
    assert body["theme"] == "auto" and "marketing_emails" not in body


def test_preferences_patch_changes_preferences_only(member, client_for):
    client = client_for(member)
    response = client.patch(PREFS, {"theme": "light", "timezone_display": "utc"})
    assert response.status_code == 200
    assert response.json()["theme"] == "light"
    assert response.json()["timezone_display"] == "utc"
    # A privacy key is not a preference: refused, naming the key.
    assert_error(
        client.patch(PREFS, {"marketing_emails": True}), 400, "unknown_setting", "marketing_emails"
    )


def test_preferences_invalid_value_names_the_key(member, client_for):
    assert_error(client_for(member).patch(PREFS, {"theme": "neon"}), 400, "not_allowed", "theme")


def test_settings_api_keys_need_profile_scopes(member):
    assert_error(api_key_client(member, ["usage:read"]).get(SETTINGS), 403, "insufficient_scope")
    reader = api_key_client(member, ["profile:read"])
    assert reader.get(PREFS).status_code == 200
    assert_error(reader.patch(PREFS, {"theme": "dark"}), 403, "insufficient_scope")
    assert (
        api_key_client(member, ["profile:write"]).patch(PREFS, {"theme": "dark"}).status_code == 200
    )


def test_settings_with_jwt(member):
    client = jwt_client(member)
    assert client.patch(SETTINGS, {"data_sharing": True}).status_code == 200
    assert _by_key(client.get(SETTINGS).json())["data_sharing"]["value"] is True


def test_settings_openapi_schema_describes_the_registry(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    components = schema["components"]["schemas"]
    patch = components["PatchedSettingsPatchRequest"]
    assert patch["additionalProperties"] is False
    theme = patch["properties"]["theme"]
    assert theme["allOf"][0]["enum"] == ["light", "dark", "auto"]
    assert theme["nullable"] is True
    assert patch["properties"]["page_size"]["allOf"][0]["minimum"] == 10
    assert patch["properties"]["dashboard.widgets"]["allOf"][0]["type"] == "array"
    prefs = components["PatchedPreferencesPatchRequest"]["properties"]
    assert "theme" in prefs and "marketing_emails" not in prefs


def test_settings_openapi_schema_from_the_registry_is_valid_openapi():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    SettingDefinition.objects.create(
        key="shortcuts",
        type="json",
        category="preferences",
        default={},
        json_schema={"type": "object", "additionalProperties": {"type": "string"}},
    )
    SettingDefinition.objects.create(
        key="exotic", type="json", category="preferences", default=1, json_schema={"const": 1}
    )
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    props = schema["components"]["schemas"]["PatchedPreferencesPatchRequest"]["properties"]
    assert props["shortcuts"]["allOf"][0]["additionalProperties"]["type"] == "string"
    assert props["exotic"]["allOf"][0] == {}  # not portable to OpenAPI 3.0: any value
