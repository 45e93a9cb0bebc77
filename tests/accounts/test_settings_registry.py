import pytest

from accounts import settings_registry as registry
from accounts.models import SettingDefinition

T = SettingDefinition.Type


def _definition(**fields) -> SettingDefinition:
    fields.setdefault("key", "x")
    fields.setdefault("choices", [])
    fields.setdefault("pattern", "")
    return SettingDefinition(**fields)


def _code(definition, value) -> str | None:
    try:
        registry.validate_value(definition, value)
    except registry.SettingValueError as exc:
        return exc.code
    return None


def test_validate_value_boolean_accepts_only_booleans():
    d = _definition(type=T.BOOLEAN, default=False)
    assert _code(d, True) is None
    for wrong in (1, 0, "true", None, [], {}):
        assert _code(d, wrong) == "invalid_type"


def test_validate_value_integer_type_and_bounds():
    d = _definition(type=T.INTEGER, default=50, min_value=10, max_value=200)
    assert _code(d, 10) is None and _code(d, 200) is None
    assert _code(d, 9) == "min_value"
    assert _code(d, 201) == "max_value"
    for wrong in (True, 50.0, "50", None):
        assert _code(d, wrong) == "invalid_type"
    assert _code(_definition(type=T.INTEGER, default=0), 2**60) == "out_of_range"


def test_validate_value_integer_allowed_values():
    d = _definition(type=T.INTEGER, default=10, choices=[10, 25, 50])
    assert _code(d, 25) is None
    assert _code(d, 30) == "not_allowed"


def test_validate_value_choice():
    d = _definition(type=T.CHOICE, default="auto", choices=["light", "dark", "auto"])
    assert _code(d, "dark") is None
    assert _code(d, "Dark") == "not_allowed"
    assert _code(d, 1) == "invalid_type"


def test_validate_value_string_length_pattern_and_characters():
    d = _definition(type=T.STRING, default="#000000", max_length=7, pattern=r"#[0-9a-f]{6}")
    assert _code(d, "#12ab3f") is None
    assert _code(d, "#12ab3") == "pattern"
    assert _code(d, "x#12ab3f") == "max_length"
    # The pattern must match the whole value, not a prefix.
    assert _code(_definition(type=T.STRING, default="a", pattern="a+"), "aab") == "pattern"
    assert _code(_definition(type=T.STRING, default=""), "tab\there") == "invalid_characters"
    assert _code(_definition(type=T.STRING, default=""), "\ud800") == "invalid_characters"


def test_validate_value_string_hard_length_cap_without_max_length():
    d = _definition(type=T.STRING, default="")
    assert _code(d, "x" * registry.STRING_HARD_MAX_LENGTH) is None
    assert _code(d, "x" * 10_000) == "max_length"


def test_validate_value_string_keeps_unicode_verbatim():
    d = _definition(type=T.STRING, default="")
    for text in ("שלום עולם", "👩‍👩‍👧 family", "'; DROP TABLE users; --"):
        assert registry.validate_value(d, text) == text


def test_validate_value_json_schema_error_names_the_path():
    d = _definition(
        type=T.JSON,
        default=[],
        json_schema={"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
    )
    assert _code(d, ["a", "b"]) is None
    with pytest.raises(registry.SettingValueError) as exc:
        registry.validate_value(d, ["a", "c"])
    assert exc.value.code == "json_schema"
    assert "/1" in exc.value.detail
    assert _code(d, ["a", "b", "a"]) == "json_schema"


def test_validate_value_json_bounded_in_size_and_characters():
    d = _definition(type=T.JSON, default={})
    assert _code(d, {"k": "v" * (registry.JSON_HARD_MAX_BYTES + 1)}) == "max_length"
    assert _code(d, {"k\x07": 1}) == "invalid_characters"
    assert _code(d, {"nested": [{"deep": True}]}) is None


def test_effective_value_falls_back_to_default_when_stored_value_breaks_the_rules():
    d = _definition(type=T.CHOICE, default="auto", choices=["light", "auto"])
    assert registry.effective_value(d, "light", has_stored=True) == "light"
    assert registry.effective_value(d, "sepia", has_stored=True) == "auto"
    assert registry.effective_value(d, None, has_stored=False) == "auto"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"type": T.CHOICE, "default": "a"}, "choices", "required"),
        ({"type": T.CHOICE, "default": 1, "choices": [1, 2]}, "choices", "invalid"),
        (
            {"type": T.INTEGER, "default": 5, "min_value": 10, "max_value": 1},
            "max_value",
            "invalid",
        ),
        ({"type": T.STRING, "default": "", "pattern": "("}, "pattern", "invalid"),
        ({"type": T.JSON, "default": {}, "json_schema": {"type": 12}}, "json_schema", "invalid"),
        ({"type": T.STRING, "default": "", "json_schema": {}}, "json_schema", "invalid"),
        ({"type": T.INTEGER, "default": 5, "min_value": 10}, "default", "min_value"),
        ({"type": T.BOOLEAN, "default": None}, "default", "invalid_type"),
        ({"type": "float", "default": 1.0}, "type", "invalid_choice"),
    ],
)
def test_definition_problems_reports_incoherent_definitions(fields, field, code):
    problems = registry.definition_problems(_definition(**fields))
    assert (field, code) in [(p.field, p.code) for p in problems]


def test_definition_problems_empty_for_a_coherent_definition():
    d = _definition(type=T.INTEGER, default=50, min_value=10, max_value=200)
    assert registry.definition_problems(d) == []


@pytest.mark.django_db
def test_seeded_definitions_are_coherent_and_cover_preferences_and_privacy():
    definitions = {d.key: d for d in SettingDefinition.objects.all()}
    expected = {
        "theme",
        "timezone_display",
        "notifications.email",
        "notifications.security_alerts",
        "profile_visibility",
        "data_sharing",
        "marketing_emails",
    }
    assert expected <= set(definitions)
    assert definitions["theme"].choices == ["light", "dark", "auto"]
    assert "language" not in definitions  # the profile's locale is the one language setting
    assert definitions["profile_visibility"].choices == ["private", "team", "public"]
    assert {d.category for d in definitions.values()} >= {"preferences", "privacy"}
    for definition in definitions.values():
        assert registry.definition_problems(definition) == [], definition.key
        definition.full_clean()  # keys obey the key pattern
