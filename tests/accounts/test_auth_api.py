"""The /auth endpoints: token, refresh (rotation + reuse detection), logout, status,
register, password reset."""

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiSession, User
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import STATUS_URL, TOKEN_URL, bearer, error_code, login
from tests.mfa import TOTP

pytestmark = pytest.mark.django_db

REFRESH_URL = "/api/v1/auth/token/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
REGISTER_URL = "/api/v1/auth/register"
RESET_URL = "/api/v1/auth/password/reset"


def _refresh(token: str):
    return APIClient().post(REFRESH_URL, {"refresh": token}, format="json")


# --- token ---------------------------------------------------------------------------------


def test_token_login_creates_an_api_session_and_audits(member):
    pair = (
        APIClient()
        .post(
            TOKEN_URL,
            {"email": member.email, "password": "correct horse battery staple"},
            format="json",
            HTTP_USER_AGENT="roster-cli/1.0",
        )
        .json()
    )
    assert set(pair) == {"access", "refresh", "token_type", "expires_in", "session_id"}
    assert pair["token_type"] == "Bearer"
    session = ApiSession.objects.get(pk=pair["session_id"])
    assert session.user == member and session.user_agent == "roster-cli/1.0"
    assert session.ip == "127.0.0.1" and session.revoked_at is None and session.refresh_jti
    event = AuditEvent.objects.get(action="auth.login.succeeded")
    assert event.actor_id == str(member.pk) and event.metadata["door"] == "api"
    member.refresh_from_db()
    assert member.last_login is not None
    for secret in (pair["access"], pair["refresh"], "correct horse"):
        assert secret not in str(event.metadata) + str(event.changes)


def test_token_trailing_slash_works(member, password):
    response = APIClient().post(
        TOKEN_URL + "/", {"email": member.email, "password": password}, format="json"
    )
    assert response.status_code == 200


def test_token_ignores_a_stale_bearer_header(member, password):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.junk")
    response = client.post(TOKEN_URL, {"email": member.email, "password": password}, format="json")
    assert response.status_code == 200


# --- refresh -------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_is_reuse(member):
    first = login(member)
    second = _refresh(first["refresh"])
    assert second.status_code == 200
    second = second.json()
    assert second["session_id"] == first["session_id"]
    assert second["refresh"] != first["refresh"] and second["access"] != first["access"]
    assert bearer(second["access"]).get(STATUS_URL).status_code == 200
    assert AuditEvent.objects.filter(action="auth.token.refreshed").count() == 1

    reuse = _refresh(first["refresh"])

    assert reuse.status_code == 401 and error_code(reuse) == "token_reused"
    session = ApiSession.objects.get(pk=first["session_id"])
    assert session.revoked_at is not None and session.revoke_reason == "refresh_reused"
    # The whole session is gone: its newest refresh and access tokens too, at once.
    assert error_code(_refresh(second["refresh"])) == "token_revoked"
    response = bearer(second["access"]).get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_revoked"
    event = AuditEvent.objects.get(action="auth.token.reused")
    assert event.target_id == first["session_id"] and event.actor_id == str(member.pk)


def test_reuse_only_revokes_that_session(member):
    victim, bystander = login(member), login(member)
    _refresh(victim["refresh"])
    _refresh(victim["refresh"])
    assert bearer(bystander["access"]).get(STATUS_URL).status_code == 200
    assert _refresh(bystander["refresh"]).status_code == 200


def test_refresh_keeps_roles_current(member):
    from accounts.roles import assign_roles

    pair = login(member)
    assign_roles(member, ["manager"])
    import jwt

    access = _refresh(pair["refresh"]).json()["access"]
    assert jwt.decode(access, options={"verify_signature": False})["roles"] == ["manager"]


def test_refresh_for_a_suspended_user_is_refused(member):
    pair = login(member)
    User.objects.filter(pk=member.pk).update(status="suspended", is_active=False)
    response = _refresh(pair["refresh"])
    assert response.status_code == 401 and error_code(response) == "account_inactive"


def test_refresh_after_session_expiry_is_refused(member):
    pair = login(member)
    with time_machine.travel(timezone.now() + timezone.timedelta(days=31), tick=False):
        response = _refresh(pair["refresh"])
    assert response.status_code == 401 and error_code(response) == "token_expired"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "required"),
        ({"refresh": ""}, "blank"),
        ({"refresh": 12}, "invalid"),
        ({"refresh": "x" * 9000}, "max_length"),
    ],
)
def test_refresh_bad_input(db, body, code):
    response = APIClient().post(REFRESH_URL, body, format="json")
    assert response.status_code == 400
    assert (response.json()["errors"][0]["code"], response.json()["errors"][0]["attr"]) == (
        code,
        "refresh",
    )


def test_refresh_garbage_token_is_401(db):
    response = APIClient().post(REFRESH_URL, {"refresh": "x.y.z"}, format="json")
    assert response.status_code == 401 and error_code(response) == "token_invalid"


# --- logout --------------------------------------------------------------------------------


def test_logout_revokes_the_session_at_once(member):
    pair = login(member)
    client = bearer(pair["access"])
    assert client.post(LOGOUT_URL).status_code == 204
    response = client.get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "token_revoked"
    assert error_code(_refresh(pair["refresh"])) == "token_revoked"
    event = AuditEvent.objects.get(action="auth.logout")
    assert event.target_id == pair["session_id"]


def test_logout_with_an_api_key_is_403(member):
    from accounts.apikeys import api_key_create

    _, raw = api_key_create(user=member, name="k", scopes=["profile:read"], actor=member)
    response = bearer(raw).post(LOGOUT_URL)
    assert response.status_code == 403 and error_code(response) == "api_key_not_allowed"


def test_logout_anonymous_is_401(anon_client):
    assert anon_client.post(LOGOUT_URL).status_code == 401


def test_logout_of_the_browser_session(member, client_for):
    client = client_for(member)
    assert client.post(LOGOUT_URL).status_code == 204
    assert client.get(STATUS_URL).status_code == 401
    assert AuditEvent.objects.filter(action="auth.logout", actor_id=str(member.pk)).exists()


# --- status --------------------------------------------------------------------------------


def test_status_with_jwt(member):
    pair = login(member)
    body = bearer(pair["access"]).get(STATUS_URL).json()
    assert body["authenticated"] is True
    assert body["user"] == {"id": str(member.pk), "email": member.email}
    assert body["method"] == "jwt" and body["session_id"] == pair["session_id"]
    assert body["scopes"] == [
        "profile:read",
        "profile:write",
        "slots:read",
        "slots:write",
        "usage:read",
        "usage:write",
        "orgs:read",
        "orgs:write",
        "tenants:write",
        "notifications:read",
        "notifications:write",
        "access:check",
        "support:read",
        "support:write",
    ]
    assert body["expires_at"].endswith("Z")
    assert body["mfa_enabled"] is False and body["email_verified"] is False


def test_status_with_api_key(member):
    from accounts.apikeys import api_key_create

    _, raw = api_key_create(
        user=member, name="k", scopes=["usage:read", "slots:read"], actor=member
    )
    body = bearer(raw).get(STATUS_URL).json()
    assert body["method"] == "api_key" and body["session_id"] is None
    assert body["scopes"] == ["slots:read", "usage:read"] and body["expires_at"] is None


def test_status_with_session_never_exposes_the_session_key(member, client_for):
    client = client_for(member)
    body = client.get(STATUS_URL).json()
    assert body["method"] == "session"
    assert body["session_id"] and body["session_id"] != client.session.session_key


def test_status_reports_verification_and_mfa(member):
    from tests.mfa import totp_activate

    EmailAddress.objects.create(user=member, email=member.email, primary=True, verified=True)
    pair = login(member)
    totp_activate(member)
    body = bearer(pair["access"]).get(STATUS_URL).json()
    assert body["email_verified"] is True and body["mfa_enabled"] is True


def test_access_check_reads_no_session_row(member):
    """Revocation is checked in the cache: no query touches the API session table."""
    client = bearer(login(member)["access"])
    client.get(STATUS_URL)  # first use may write last_seen_at (once a minute)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(STATUS_URL).status_code == 200
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "accounts_apisession" not in sql
    assert len(queries) <= 2  # the user row, and the status flags


def test_revocation_survives_a_cache_flush(member):
    from django.core.cache import cache

    pair = login(member)
    client = bearer(pair["access"])
    client.post(LOGOUT_URL)
    cache.clear()
    assert error_code(client.get(STATUS_URL)) == "token_revoked"
    live = bearer(login(member)["access"])
    cache.clear()
    assert live.get(STATUS_URL).status_code == 200


def test_suspended_user_tokens_stop_working_at_once(member):
    client = bearer(login(member)["access"])
    User.objects.filter(pk=member.pk).update(status="suspended", is_active=False)
    response = client.get(STATUS_URL)
    assert response.status_code == 401 and error_code(response) == "account_inactive"


def test_last_seen_is_written_at_most_once_a_minute(member):
    pair = login(member)
    client = bearer(pair["access"])
    start = timezone.now() + timezone.timedelta(seconds=5)
    with time_machine.travel(start, tick=False):
        client.get(STATUS_URL)
    seen = ApiSession.objects.get(pk=pair["session_id"]).last_seen_at
    with time_machine.travel(start + timezone.timedelta(seconds=30), tick=False):
        client.get(STATUS_URL)
    assert ApiSession.objects.get(pk=pair["session_id"]).last_seen_at == seen
    with time_machine.travel(start + timezone.timedelta(seconds=61), tick=False):
        client.get(STATUS_URL)
    assert ApiSession.objects.get(pk=pair["session_id"]).last_seen_at > seen


# --- register ------------------------------------------------------------------------------


def test_register_creates_a_member_and_sends_the_confirmation(db):
    response = APIClient().post(
        REGISTER_URL,
        {
            "email": "  New.User@Example.com ",
            "password": "a long enough passphrase",
            "username": "newbie",
            "display_name": "Nëw 用户",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new.user@example.com" and body["roles"] == ["member"]
    assert body["display_name"] == "Nëw 用户" and body["status"] == "active"
    assert body["email_verified"] is False
    user = User.objects.get(pk=body["id"])
    assert user.check_password("a long enough passphrase")
    assert EmailAddress.objects.filter(user=user, primary=True, verified=False).exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.user@example.com"]
    event = AuditEvent.objects.get(action="user.created")
    assert event.target_id == str(user.pk) and "passphrase" not in str(event.metadata)
    assert "password" not in body


def test_register_without_verification_sends_no_mail(db, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    response = APIClient().post(
        REGISTER_URL,
        {"email": "x@example.com", "password": "a long enough passphrase"},
        format="json",
    )
    assert response.status_code == 201 and not mail.outbox


def test_register_mandatory_verification_then_login_is_403(db, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    APIClient().post(
        REGISTER_URL,
        {"email": "v@example.com", "password": "a long enough passphrase"},
        format="json",
    )
    response = APIClient().post(
        TOKEN_URL,
        {"email": "v@example.com", "password": "a long enough passphrase"},
        format="json",
    )
    assert response.status_code == 403 and error_code(response) == "email_unverified"


def test_register_email_taken_is_409_case_insensitive(member):
    response = APIClient().post(
        REGISTER_URL,
        {"email": "MEMBER@example.com", "password": "a long enough passphrase"},
        format="json",
    )
    assert response.status_code == 409 and error_code(response) == "email_taken"


def test_register_username_taken_is_409(user_factory):
    user_factory(username="taken")
    response = APIClient().post(
        REGISTER_URL,
        {"email": "n@example.com", "password": "a long enough passphrase", "username": "TAKEN"},
        format="json",
    )
    assert response.status_code == 409 and error_code(response) == "username_taken"


def _register(email: str, **extra):
    return APIClient().post(
        REGISTER_URL,
        {"email": email, "password": "a long enough passphrase", **extra},
        format="json",
    )


def test_register_mandatory_verification_answers_new_and_taken_addresses_alike(member, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    new = _register("newcomer@example.com")
    taken = _register("MEMBER@example.com")

    assert new.status_code == taken.status_code == 202
    assert new.json() == taken.json() and set(new.json()) == {"detail"}
    # The newcomer gets a confirmation link; the owner of the taken address is told instead.
    assert [m.to for m in mail.outbox] == [["newcomer@example.com"], ["member@example.com"]]
    assert "/accounts/confirm-email/" in mail.outbox[0].body
    assert "already exists" in mail.outbox[1].body
    assert "/accounts/password/reset/" in mail.outbox[1].body
    # Nothing was created or changed for the taken address.
    assert User.objects.filter(email__iexact="member@example.com").count() == 1
    assert EmailAddress.objects.filter(email__iexact="member@example.com").count() <= 1
    member.refresh_from_db()
    assert member.check_password("correct horse battery staple")
    assert not AuditEvent.objects.filter(action="user.created", target_id=str(member.pk)).exists()


def test_register_mandatory_verification_mails_the_owner_as_the_sign_up_page_does(member, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    Client().post(
        "/accounts/signup/",
        {
            "email": member.email,
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert len(mail.outbox) == 1
    # Both doors share allauth's limit of one such mail per address every few minutes.
    assert _register(member.email).status_code == 202
    assert len(mail.outbox) == 1
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=10)):
        assert _register(member.email).status_code == 202
    assert len(mail.outbox) == 2
    page_mail, api_mail = mail.outbox
    assert (api_mail.to, api_mail.subject, api_mail.body) == (
        page_mail.to,
        page_mail.subject,
        page_mail.body,
    )
    assert User.objects.filter(email=member.email).count() == 1


def test_register_mandatory_verification_still_says_a_username_is_taken(user_factory, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    user_factory(username="taken")
    response = _register("n@example.com", username="TAKEN")
    assert response.status_code == 409 and error_code(response) == "username_taken"
    assert not User.objects.filter(email="n@example.com").exists()


def test_register_optional_verification_keeps_email_taken_and_sends_nothing(member):
    response = _register(member.email)
    assert response.status_code == 409 and error_code(response) == "email_taken"
    assert not mail.outbox


@pytest.mark.parametrize(
    "password,code",
    [
        ("short", "password_too_short"),
        ("password123", "password_too_common"),
        ("83749201938475", "password_entirely_numeric"),
    ],
)
def test_register_weak_passwords_pass_validator_codes_through(db, password, code):
    response = APIClient().post(
        REGISTER_URL, {"email": "w@example.com", "password": password}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": code,
        "detail": response.json()["errors"][0]["detail"],
        "attr": "password",
    }
    assert not User.objects.filter(email="w@example.com").exists()


def test_register_weak_password_answers_every_validator_code(db):
    response = APIClient().post(
        REGISTER_URL, {"email": "w@example.com", "password": "12345678"}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {(e["code"], e["attr"]) for e in errors} == {
        ("password_too_short", "password"),
        ("password_too_common", "password"),
        ("password_entirely_numeric", "password"),
    }
    assert all(e["detail"] and "%(" not in e["detail"] for e in errors)
    assert not User.objects.filter(email="w@example.com").exists()


def test_register_password_similar_to_email_is_refused(db):
    response = APIClient().post(
        REGISTER_URL,
        {"email": "averylongname@example.com", "password": "averylongname"},
        format="json",
    )
    assert response.status_code == 400 and error_code(response) == "password_too_similar"


@pytest.mark.parametrize(
    "body,attr",
    [
        ({"password": "a long enough passphrase"}, "email"),
        ({"email": "not-an-email", "password": "a long enough passphrase"}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": "x" * 10_000}, "password"),
        (
            {"email": "a@example.com", "password": "a long enough passphrase", "roles": ["admin"]},
            "roles",
        ),
        (
            {"email": "a@example.com", "password": "a long enough passphrase", "username": "a b"},
            "username",
        ),
        (
            {
                "email": "a@example.com",
                "password": "a long enough passphrase",
                "display_name": "x" * 151,
            },
            "display_name",
        ),
    ],
)
def test_register_bad_input_is_400(db, body, attr):
    response = APIClient().post(REGISTER_URL, body, format="json")
    assert response.status_code == 400, response.content
    assert attr in {e["attr"] for e in response.json()["errors"]}
    assert not User.objects.exists()


def test_register_is_rate_limited_with_the_signup_page(db, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "2/m/ip"}
    from allauth.account import app_settings

    if app_settings.RATE_LIMITS.get("signup") != "2/m/ip":
        pytest.skip("allauth reads its rate limits once")
    for i in range(2):
        APIClient().post(
            REGISTER_URL,
            {"email": f"r{i}@example.com", "password": "a long enough passphrase"},
            format="json",
        )
    response = APIClient().post(
        REGISTER_URL,
        {"email": "r9@example.com", "password": "a long enough passphrase"},
        format="json",
    )
    assert response.status_code == 429


# --- password reset ------------------------------------------------------------------------


def test_password_reset_is_202_for_known_and_unknown_addresses(member):
    known = APIClient().post(RESET_URL, {"email": member.email}, format="json")
    unknown = APIClient().post(RESET_URL, {"email": "nobody@example.com"}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    reset_mail = next(m for m in mail.outbox if m.to == [member.email])
    assert "/accounts/password/reset/key/" in reset_mail.body
    event = AuditEvent.objects.get(action="auth.password.reset_requested")
    assert event.target_id == str(member.pk)


def test_password_reset_bad_input(db):
    for body in ({}, {"email": "nope"}, {"email": 5}, {"email": "a@example.com", "x": 1}):
        response = APIClient().post(RESET_URL, body, format="json")
        assert response.status_code == 400


def test_password_reset_is_rate_limited_per_address(member):
    statuses = [
        APIClient().post(RESET_URL, {"email": member.email}, format="json").status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [202] * 5 and statuses[5] == 429


def test_no_secret_in_any_event_after_a_full_api_journey(db):
    """Register, sign in with MFA, refresh, reuse, create/use/revoke a key, reset, log out:
    not one password, token, key, mfa_token or code reaches the audit log."""

    from tests.mfa import recovery_codes_activate, totp_activate, totp_secret

    password = "journey passphrase 42"
    client = APIClient()
    user_id = client.post(
        REGISTER_URL, {"email": "journey@example.com", "password": password}, format="json"
    ).json()["id"]
    user = User.objects.get(pk=user_id)
    secret = totp_secret()
    totp_activate(user, secret)
    recovery = recovery_codes_activate(user)[0]
    secrets = [password, secret, recovery]

    client.post(TOKEN_URL, {"email": user.email, "password": "wrong guess 1"}, format="json")
    ticket = client.post(
        TOKEN_URL, {"email": user.email, "password": password}, format="json"
    ).json()["mfa_token"]
    client.post("/api/v1/auth/token/mfa", {"mfa_token": ticket, "code": "000000"}, format="json")
    code = TOTP(secret).now()
    pair = client.post(
        "/api/v1/auth/token/mfa", {"mfa_token": ticket, "code": code}, format="json"
    ).json()
    secrets += [ticket, pair["access"], pair["refresh"]]
    newer = _refresh(pair["refresh"]).json()
    secrets += [newer["access"], newer["refresh"]]
    _refresh(pair["refresh"])  # reuse: the session is revoked

    ticket = client.post(
        TOKEN_URL, {"email": user.email, "password": password}, format="json"
    ).json()["mfa_token"]
    pair = client.post(
        "/api/v1/auth/token/mfa", {"mfa_token": ticket, "code": recovery}, format="json"
    ).json()
    secrets += [ticket, pair["access"], pair["refresh"]]
    jwt_client = bearer(pair["access"])
    created = jwt_client.post(
        "/api/v1/users/me/api-keys", {"name": "k", "scopes": ["profile:read"]}, format="json"
    ).json()
    secrets.append(created["key"])
    bearer(created["key"]).get(STATUS_URL, REMOTE_ADDR="10.2.3.4")
    jwt_client.delete(f"/api/v1/users/me/api-keys/{created['id']}")
    client.post(RESET_URL, {"email": user.email}, format="json")
    jwt_client.post(LOGOUT_URL)

    events = list(AuditEvent.objects.values("action", "changes", "metadata", "user_agent"))
    actions = {e["action"] for e in events}
    assert {
        "user.created",
        "auth.login.failed",
        "auth.login.succeeded",
        "auth.token.refreshed",
        "auth.token.reused",
        "apikey.created",
        "apikey.used_from_new_ip",
        "apikey.revoked",
        "auth.password.reset_requested",
        "auth.logout",
    } <= actions
    dump = str(events)
    for value in secrets:
        assert value not in dump


def test_register_display_name_with_control_characters_is_400(anon_client):
    response = anon_client.post(
        "/api/v1/auth/register",
        {
            "email": "ctl@example.com",
            "password": "a long enough passphrase",
            "display_name": "a\u0019b",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_characters"
