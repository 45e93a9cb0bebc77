import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

from audit.models import AuditEvent
from audit.personal import reveal
from tests.accounts.users_helpers import api_key_client, assert_error, jwt_client

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"
USER_FIELDS = {
    "id",
    "email",
    "username",
    "display_name",
    "first_name",
    "last_name",
    "phone",
    "department",
    "timezone",
    "locale",
    "status",
    "roles",
    "email_verified",
    "mfa_enabled",
    "date_joined",
    "last_login",
}
FULL_PROFILE = {
    "username": "ada",
    "display_name": "Ada L.",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+41 44 668 18 00",
    "department": "Analytics",
    "timezone": "Europe/Zurich",
    "locale": "de",
}


def test_me_anonymous_is_401(anon_client):
    response = anon_client.get(ME)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_returns_exactly_the_user_object(member, client_for):
    response = client_for(member).get(ME)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["id"] == str(member.pk)
    assert body["email"] == "member@example.com"
    assert body["status"] == "active"
    assert body["roles"] == ["member"]
    assert body["email_verified"] is False and body["mfa_enabled"] is False
    assert body["date_joined"].endswith("Z")
    assert body["last_login"] is None or body["last_login"].endswith("Z")


def test_me_trailing_slash_works(member, client_for):
    assert client_for(member).get(ME + "/").status_code == 200
    assert client_for(member).patch(ME + "/", {"department": "X"}).status_code == 200


def test_me_flags_follow_allauth_records(member, client_for):
    EmailAddress.objects.create(user=member, email=member.email, verified=True, primary=True)
    Authenticator.objects.create(user=member, type=Authenticator.Type.TOTP, data={})
    body = client_for(member).get(ME).json()
    assert body["email_verified"] is True and body["mfa_enabled"] is True


def test_me_recovery_codes_alone_are_not_mfa(member, client_for):
    Authenticator.objects.create(user=member, type=Authenticator.Type.RECOVERY_CODES, data={})
    assert client_for(member).get(ME).json()["mfa_enabled"] is False


def test_me_roles_for_manager_and_admin(manager, admin_user, client_for):
    assert client_for(manager).get(ME).json()["roles"] == ["manager"]
    assert client_for(admin_user).get(ME).json()["roles"] == ["admin"]


def test_me_works_with_jwt_and_api_key_with_profile_read(member):
    assert jwt_client(member).get(ME).json()["id"] == str(member.pk)
    assert api_key_client(member, ["profile:read"]).get(ME).status_code == 200


def test_me_api_key_needs_the_profile_scopes(member):
    assert_error(api_key_client(member, ["slots:read"]).get(ME), 403, "insufficient_scope")
    read_only = api_key_client(member, ["profile:read"])
    assert_error(read_only.patch(ME, {"department": "X"}), 403, "insufficient_scope")
    writer = api_key_client(member, ["profile:write"])
    assert writer.patch(ME, {"department": "X"}).status_code == 200


def test_me_patch_updates_and_normalises_fields(member, client_for):
    response = client_for(member).patch(ME, FULL_PROFILE)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["phone"] == "+41446681800"
    assert body["timezone"] == "Europe/Zurich" and body["locale"] == "de"
    assert body["username"] == "ada" and body["display_name"] == "Ada L."
    member.refresh_from_db()
    assert member.first_name == "Ada" and member.department == "Analytics"


def test_me_patch_audits_before_and_after(member, client_for):
    client_for(member).patch(ME, {"department": "Sales", "locale": "fr"})
    event = AuditEvent.objects.get(action="user.updated")
    assert event.actor_id == str(member.pk) and event.target_id == str(member.pk)
    assert reveal(event).changes == {"department": ["", "Sales"], "locale": ["en", "fr"]}
    assert "Sales" not in str(event.changes)  # stored encrypted under the user's key


def test_me_patch_without_change_records_nothing(member, client_for):
    client_for(member).patch(ME, {"locale": member.locale})
    assert not AuditEvent.objects.filter(action="user.updated").exists()


def test_me_put_requires_every_writable_field(member, client_for):
    client = client_for(member)
    body = assert_error(client.put(ME, {"display_name": "Only"}), 400, "required", "timezone")
    assert {e["attr"] for e in body["errors"]} >= {"first_name", "locale", "phone"}
    response = client.put(ME, FULL_PROFILE)
    assert response.status_code == 200
    assert response.json()["last_name"] == "Lovelace"


@pytest.mark.parametrize("field", ["email", "status", "roles", "id", "email_verified"])
def test_me_read_only_fields_are_refused(member, client_for, field):
    value = {"email": "evil@example.com", "status": "active", "roles": ["admin"]}.get(field, "x")
    response = client_for(member).patch(ME, {field: value})
    assert_error(response, 400, "read_only_field", field)
    member.refresh_from_db()
    assert member.email == "member@example.com" and member.roles == ["member"]


def test_me_unknown_fields_are_400_unknown_field(member, client_for):
    response = client_for(member).patch(ME, {"department": "X", "is_staff": True})
    assert_error(response, 400, "unknown_field", "is_staff")
    member.refresh_from_db()
    assert member.department == "" and not member.is_staff


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("phone", "0446681800", "invalid_phone"),
        ("phone", "+1 555", "invalid_phone"),
        ("phone", "+41 44 abc", "invalid_phone"),
        ("timezone", "Mars/Olympus", "invalid_timezone"),
        ("timezone", "", "blank"),
        ("timezone", None, "null"),
        ("locale", "xx", "invalid_locale"),
        ("locale", "english", "invalid_locale"),
        ("display_name", "x" * 151, "max_length"),
        ("display_name", "x" * 10_000, "max_length"),
        ("first_name", "line\nbreak", "invalid_characters"),
        ("last_name", "bell\x07", "invalid_characters"),
        ("department", "esc\x1b[31m", "invalid_characters"),
        ("display_name", 42, "invalid"),
        ("display_name", ["a"], "invalid"),
        ("display_name", {"a": 1}, "invalid"),
        ("display_name", True, "invalid"),
        ("username", "has space", "invalid_username"),
        ("username", "x" * 151, "max_length"),
    ],
)
def test_me_patch_bad_values_are_400_naming_the_field(member, client_for, field, value, code):
    response = client_for(member).patch(ME, {field: value})
    assert_error(response, 400, code, field)


def test_me_patch_null_byte_is_refused(member, client_for):
    response = client_for(member).patch(
        ME, data='{"display_name": "a\\u0000b"}', content_type="application/json"
    )
    assert response.status_code == 400
    member.refresh_from_db()
    assert "\x00" not in member.display_name


def test_me_patch_lone_surrogate_is_refused(member, client_for):
    response = client_for(member).patch(
        ME, data='{"display_name": "a\\ud800b"}', content_type="application/json"
    )
    assert response.status_code == 400


def test_me_patch_body_must_be_an_object(member, client_for):
    response = client_for(member).patch(ME, data="[1, 2]", content_type="application/json")
    assert_error(response, 400, "invalid")


@pytest.mark.parametrize(
    "text",
    [
        "مرحبا بالعالم",
        "שלום \u200fעולם",
        "👩‍💻 Zoë 🚀",
        "Robert'); DROP TABLE accounts_user;--",
        "1 OR 1=1",
        "<script>alert(1)</script>",
    ],
)
def test_me_unicode_and_sql_looking_text_round_trips_verbatim(member, client_for, text):
    client = client_for(member)
    response = client.patch(ME, {"display_name": text, "department": text})
    assert response.status_code == 200, response.content
    body = client.get(ME).json()
    assert body["display_name"] == text and body["department"] == text


def test_me_username_taken_case_insensitively_is_409(member, other_member, client_for):
    client_for(other_member).patch(ME, {"username": "Grace"})
    response = client_for(member).patch(ME, {"username": "grace"})
    assert_error(response, 409, "username_taken", "username")


def test_me_username_blank_clears_it(member, client_for):
    client = client_for(member)
    client.patch(ME, {"username": "someone"})
    assert client.patch(ME, {"username": ""}).json()["username"] is None
    assert client.patch(ME, {"username": None}).json()["username"] is None


def test_me_locale_is_normalised_to_djangos_code(member, client_for):
    # A regional variant reads as the language Roster is translated into.
    assert client_for(member).patch(ME, {"locale": "de_CH"}).json()["locale"] == "de"
    assert client_for(member).patch(ME, {"locale": "FR"}).json()["locale"] == "fr"


def test_me_method_not_allowed(member, client_for):
    assert_error(client_for(member).post(ME, {}), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    [
        ME,
        ME + "/password",
        ME + "/export",
        ME + "/settings",
        ME + "/preferences",
        "/api/v1/users",
        "/api/v1/users/bulk",
        "/api/v1/users/00000000-0000-0000-0000-000000000000",
    ],
)
def test_options_never_fails(member, admin_user, client_for, path):
    for user in (member, admin_user):
        assert client_for(user).options(path).status_code in (200, 403, 404)
