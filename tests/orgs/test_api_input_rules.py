"""The organization API's schema states the input rules its services enforce: each pattern
accepts exactly the raw values the service accepts (so the CI fuzzer finds no undocumented
400), a subject is named by exactly one of two fields, and keys come from their vocabulary."""

from __future__ import annotations

import random
import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from config.errors import Invalid
from orgs.api.serializers.common import (
    DOMAIN_PATTERN,
    OPTIONAL_TEXT_PATTERN,
    SLUG_PATTERN,
    TEXT_PATTERN,
)
from orgs.catalogue import ALL_PERMISSIONS, TEAM_PERMISSIONS
from orgs.models import ROLE_KEY_RE
from orgs.services.domains import clean_domain
from orgs.services.organizations import clean_slug
from orgs.services.rules import clean_text
from tests.orgs.conftest import assert_error, jwt_client

# Characters each rule treats differently: str.strip()'s whitespace (some of it control
# characters), other control characters, separators, the Kelvin sign ("k" lower-cased),
# letters, digits, dashes, dots and characters beyond the Basic Multilingual Plane.
ALPHABET = list("aZk0-._ \t\n\r\x00\x07\x1c\x1f\x7f\x85\xa0\u2028\u2029\u3000\u212aé😀")
SAMPLES = 4000


def _ecma(pattern: str) -> re.Pattern:
    # JSON Schema reads "$" as the end of the string; Python's "$" also matches before a
    # final line break.
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


def _values(seed: int, extra: tuple[str, ...] = ()) -> list[str]:
    rng = random.Random(seed)
    words = ["example", "com", "acme", "a", "x1", "9", "-", "."]
    values = list(extra)
    for _ in range(SAMPLES):
        parts = [
            rng.choice(words) if rng.random() < 0.5 else rng.choice(ALPHABET)
            for _ in range(rng.randint(0, 8))
        ]
        values.append("".join(parts))
    return values


def _accepts(clean, value: str) -> bool:
    try:
        clean(value)
    except Invalid:
        return False
    return True


def _assert_same(pattern: str, clean, values: list[str]) -> None:
    compiled = _ecma(pattern)
    differing = [v for v in values if bool(compiled.search(v)) != _accepts(clean, v)]
    assert not differing, differing[:10]


def test_text_pattern_is_clean_text_for_required_values():
    values = _values(1, ("", " ", "a", " a ", "a\nb", "a\tb", "\ta\t", "a\u2028b", "a\x85"))
    _assert_same(
        TEXT_PATTERN,
        lambda v: clean_text(v, attr="name", max_length=10_000, required=True),
        values,
    )


def test_optional_text_pattern_or_blank_is_clean_text():
    # The schema's other branch is the empty string (maxLength 0).
    values = [v for v in _values(2, (" ", "\n", "a", "\u3000b")) if v]
    _assert_same(
        OPTIONAL_TEXT_PATTERN,
        lambda v: clean_text(v, attr="description", max_length=10_000),
        values,
    )
    assert not _ecma(OPTIONAL_TEXT_PATTERN).search("")


def test_domain_pattern_is_clean_domain():
    values = _values(
        3,
        (
            "example.com",
            " Example.COM. ",
            "example.com..",
            "example.com .",
            "localhost",
            "1.2.3.4",
            "a.1b",
            "-a.com",
            "a-.com",
            "\u212aelvin.com",
            "a" * 63 + ".com",
            "a" * 64 + ".com",
            "xn--bcher-kva.ch",
        ),
    )
    _assert_same(DOMAIN_PATTERN, clean_domain, [v for v in values if len(v) <= 253])


def test_slug_pattern_is_clean_slug():
    values = _values(4, ("acme", " acme\n", "a-b", "-a", "a-", "A", "a" * 50, "a" * 51))
    _assert_same(SLUG_PATTERN, clean_slug, values)


def test_role_key_pattern_is_the_role_key_rule():
    values = _values(5, ("admin", "a_b-c", "a" * 40, "a" * 41, "Admin", "1a", " a", "a\n"))
    _assert_same(ROLE_KEY_RE, lambda v: re.fullmatch(ROLE_KEY_RE, v) or _raise(), values)


def _raise():
    raise Invalid("invalid_key", "")


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture(scope="module")
def components(schema):
    return schema["components"]["schemas"]


def _prop(schema: dict) -> dict:
    """A property's own schema, through the blank branch spectacular adds for blank values."""
    return schema["oneOf"][0] if "oneOf" in schema else schema


def test_schema_states_the_rules(schema, components):
    org = components["OrganizationCreateRequest"]["properties"]
    assert _prop(org["name"])["pattern"] == TEXT_PATTERN
    assert _prop(org["description"])["pattern"] == OPTIONAL_TEXT_PATTERN
    assert _prop(org["slug"])["pattern"] == SLUG_PATTERN
    assert components["DomainCreateRequest"]["properties"]["domain"]["pattern"] == DOMAIN_PATTERN
    tenant = components["TenantCreateRequest"]["properties"]
    assert tenant["company_domain"]["pattern"] == DOMAIN_PATTERN
    assert tenant["admin_email"]["format"] == "email"
    assert components["RoleCreateRequest"]["properties"]["key"]["pattern"] == ROLE_KEY_RE
    for name, pair in [
        ("MemberAddRequest", ["user", "email"]),
        ("TeamMemberAddRequest", ["user", "user_email"]),
    ]:
        assert components[name]["oneOf"] == [{"required": [field]} for field in pair]
        assert components[name]["additionalProperties"] is False
    assert components["PermissionKey"]["enum"] == sorted(ALL_PERMISSIONS)
    assert components["TeamPermissionKey"]["enum"] == sorted(TEAM_PERMISSIONS)
    assert components["RoleKey"]["pattern"] == ROLE_KEY_RE
    for path in ("/api/v1/orgs/{org_id}/members/", "/api/v1/teams/{team_id}/members/"):
        # Neither field is required alone, but a body naming one of them is.
        assert schema["paths"][path]["post"]["requestBody"]["required"] is True
    assert components["PermissionUpdateRequest"]["properties"]["roles_to_assign"]["items"] == {
        "allOf": [{"$ref": "#/components/schemas/RoleKey"}],
        "minLength": 1,
    }


# --- the API answers what the schema says -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "attr"),
    [
        ({"name": "a\x07b"}, "invalid_characters", "name"),
        ({"name": "Acme", "description": "line\u2028separator"}, "invalid_characters", None),
        ({"name": "Acme", "slug": " -acme"}, "invalid_slug", "slug"),
    ],
)
def test_org_create_refuses_what_the_patterns_refuse(world, body, code, attr):
    response = jwt_client(world.owner).post("/api/v1/orgs", body, format="json")
    assert_error(response, 400, code, attr or "description")
    assert not _ecma(
        TEXT_PATTERN if attr == "name" else SLUG_PATTERN if attr else OPTIONAL_TEXT_PATTERN
    ).search(body[attr or "description"])


def test_org_create_accepts_surrounding_whitespace_the_patterns_allow(world):
    body = {"name": "\u3000Acme two\n", "slug": " acme-two\t", "description": " \n "}
    assert all(
        _ecma(p).search(body[k]) for k, p in [("name", TEXT_PATTERN), ("slug", SLUG_PATTERN)]
    )
    response = jwt_client(world.owner).post("/api/v1/orgs", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["name"], created["slug"], created["description"]) == (
        "Acme two",
        "acme-two",
        "",
    )


def test_keys_are_not_trimmed(world):
    client = jwt_client(world.owner)
    path = f"/api/v1/orgs/{world.org.pk}"
    assert_error(
        client.post(f"{path}/roles", {"key": " ops", "name": "Ops", "permissions": []}),
        400,
        "invalid_key",
        "key",
    )
    assert_error(
        client.post(
            f"{path}/members/{world.member.pk}/permissions",
            {"permissions_to_add": [" reports:read"]},
            format="json",
        ),
        400,
        "unknown_permission",
        "permissions_to_add",
    )


def test_member_add_needs_exactly_one_of_user_and_email(world):
    client = jwt_client(world.owner)
    path = f"/api/v1/orgs/{world.org.pk}/members"
    both = {"user": str(world.outsider.pk), "email": "outsider@example.com"}
    assert_error(client.post(path, both, format="json"), 400, "required", "user")
    assert_error(client.post(path, {}, format="json"), 400, "required", "user")
