"""One login policy, every door: the sign-in page (allauth) and POST /api/v1/auth/token
share lockout counters, verification rules and the constant-cost credential check."""

import threading

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.flows import limits, login
from audit.models import AuditEvent
from tests.accounts.test_auth_helpers import TOKEN_URL, error_code
from tests.factories import DEFAULT_PASSWORD
from tests.hashers import FastArgon2PasswordHasher

pytestmark = pytest.mark.django_db

LOGIN_PAGE = "/accounts/login/"


class CountingHasher(FastArgon2PasswordHasher):
    """The suite's argon2id hasher, counting verifications (a spy, not a stand-in)."""

    verifications = 0

    def verify(self, password, encoded):
        CountingHasher.verifications += 1
        return super().verify(password, encoded)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.accounts.test_auth_policy.CountingHasher"]
    login._DUMMY_HASH = None
    CountingHasher.verifications = 0
    yield CountingHasher
    login._DUMMY_HASH = None


def _api_login(email, password=DEFAULT_PASSWORD, client=None, **extra):
    client = client or APIClient()
    return client.post(TOKEN_URL, {"email": email, "password": password}, format="json", **extra)


def _page_login(email, password=DEFAULT_PASSWORD):
    client = Client()
    response = client.post(LOGIN_PAGE, {"login": email, "password": password})
    return client, response


def _page_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_page_login_works_with_the_policy_adapter(member):
    client, response = _page_login(member.email)
    assert response.status_code == 302
    assert _page_logged_in(client)


def test_unknown_wrong_and_inactive_give_the_same_401_and_one_hash_each(
    member, user_factory, counting_hasher
):
    suspended = user_factory(email="gone@example.com")
    suspended.__class__.objects.filter(pk=suspended.pk).update(status="suspended", is_active=False)
    social_only = user_factory(email="social@example.com", password=None)

    answers = []
    for email, password in [
        ("nobody@example.com", DEFAULT_PASSWORD),
        (member.email, "wrong password!"),
        (suspended.email, DEFAULT_PASSWORD),
        (social_only.email, DEFAULT_PASSWORD),
    ]:
        counting_hasher.verifications = 0
        response = _api_login(email, password)
        answers.append((response.status_code, response.json()))
        # The hash runs in every case, so the timing does not tell them apart.
        assert counting_hasher.verifications == 1, email
    assert len({(status, str(body)) for status, body in answers}) == 1
    assert answers[0][0] == 401 and answers[0][1]["errors"][0]["code"] == "invalid_credentials"
    failed = AuditEvent.objects.filter(action="auth.login.failed")
    assert failed.count() == 4
    assert {e.metadata["reason"] for e in failed} == {
        "unknown_user",
        "wrong_password",
        "inactive",
        "no_password",
    }
    assert all(e.metadata["door"] == "api" for e in failed)


def test_oversized_password_is_refused_before_hashing_on_both_doors(member, counting_hasher):
    huge = "x" * (django_settings.PASSWORD_MAX_LENGTH + 1)
    response = _api_login(member.email, huge)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "password"
    client, _ = _page_login(member.email, huge)
    assert not _page_logged_in(client)
    assert counting_hasher.verifications == 0
    event = AuditEvent.objects.get(action="auth.login.failed")
    assert event.metadata["reason"] == "password_too_long"
    assert huge not in str(event.metadata)


def test_policy_refuses_oversized_password_without_hashing(member, counting_hasher, rf):
    user, reason = login.check_credentials(
        email=member.email, password="x" * (django_settings.PASSWORD_MAX_LENGTH + 1)
    )
    assert user is None and reason == "password_too_long"
    assert counting_hasher.verifications == 0


def test_api_lockout_blocks_the_page_login(member):
    for _ in range(5):
        r = _api_login(member.email, "wrong password!")
        assert r.status_code == 401, r.content
    response = _api_login(member.email)
    assert response.status_code == 429
    assert error_code(response) == "too_many_attempts"
    assert 1 <= int(response["Retry-After"]) <= 300

    client, page = _page_login(member.email)
    assert not _page_logged_in(client)
    assert b"Too many failed login attempts" in page.content


def test_page_lockout_blocks_the_api_login(member):
    for _ in range(5):
        client, _ = _page_login(member.email, "wrong password!")
        assert not _page_logged_in(client)
    response = _api_login(member.email)
    assert response.status_code == 429
    assert error_code(response) == "too_many_attempts"
    assert "Retry-After" in response


def test_lockout_key_ignores_case_whitespace_and_host(member):
    for variant in ["MEMBER@example.com", " member@example.com ", "Member@Example.COM"]:
        _api_login(variant, "wrong password!")
    client = Client(HTTP_HOST="localhost")
    client.post(LOGIN_PAGE, {"login": member.email, "password": "wrong password!"})
    client = Client(HTTP_HOST="127.0.0.1")
    client.post(LOGIN_PAGE, {"login": member.email, "password": "wrong password!"})
    assert _api_login(member.email).status_code == 429


def test_lockout_is_audited_once_per_window(member):
    for _ in range(5):
        _api_login(member.email, "wrong password!")
    for _ in range(3):
        assert _api_login(member.email).status_code == 429
    _page_login(member.email)
    events = AuditEvent.objects.filter(action="auth.lockout")
    assert events.count() == 1
    assert events.get().metadata["email"] == member.email


def test_lockout_lifts_when_the_window_passes(member):
    import time

    import time_machine

    for _ in range(5):
        _api_login(member.email, "wrong password!")
    assert _api_login(member.email).status_code == 429
    with time_machine.travel(time.time() + 301, tick=False):
        assert _api_login(member.email).status_code == 200


def test_successful_logins_do_not_use_up_the_limit(member):
    for _ in range(4):
        _api_login(member.email, "wrong password!")
    for _ in range(3):
        assert _api_login(member.email).status_code == 200
    # The four failures still count: one more failure locks the account.
    _api_login(member.email, "wrong password!")
    assert _api_login(member.email).status_code == 429


def test_per_ip_limit_spans_accounts(user_factory):
    users = [user_factory() for _ in range(11)]
    statuses = [_api_login(u.email, "wrong password!").status_code for u in users]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # Another address is not affected.
    response = _api_login(users[0].email, DEFAULT_PASSWORD, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200


def test_mandatory_verification_blocks_both_doors_until_verified(member, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    response = _api_login(member.email)
    assert response.status_code == 403 and error_code(response) == "email_unverified"
    client, _ = _page_login(member.email)
    assert not _page_logged_in(client)

    # The page attempt created the address (and sent a confirmation email); confirm it.
    assert mail.outbox
    EmailAddress.objects.update_or_create(
        user=member, email=member.email, defaults={"primary": True, "verified": True}
    )
    assert _api_login(member.email).status_code == 200
    client, _ = _page_login(member.email)
    assert _page_logged_in(client)


def test_mandatory_verification_also_holds_for_api_keys_and_refresh(member, settings):
    """Keys and refresh tokens from before verification became mandatory stop working."""
    from accounts.tokens import token_issue
    from tests.accounts.users_helpers import api_key_client

    key_client = api_key_client(member, ["profile:read"])
    pair = token_issue(user=member)
    assert key_client.get("/api/v1/users/me").status_code == 200

    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    refused = key_client.get("/api/v1/users/me")
    assert refused.status_code == 403 and error_code(refused) == "email_unverified"
    refreshed = APIClient().post(
        "/api/v1/auth/token/refresh", {"refresh": pair.refresh}, format="json"
    )
    assert refreshed.status_code == 403 and error_code(refreshed) == "email_unverified"

    EmailAddress.objects.create(user=member, email=member.email, primary=True, verified=True)
    assert key_client.get("/api/v1/users/me").status_code == 200
    refreshed = APIClient().post(
        "/api/v1/auth/token/refresh", {"refresh": pair.refresh}, format="json"
    )
    assert refreshed.status_code == 200


def test_unverified_wrong_password_is_still_invalid_credentials(member, settings):
    """Verification is only revealed to someone who knows the password."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    response = _api_login(member.email, "wrong password!")
    assert response.status_code == 401 and error_code(response) == "invalid_credentials"


def test_optional_verification_lets_unverified_users_in(member):
    assert _api_login(member.email).status_code == 200


def test_login_by_username(user_factory):
    user = user_factory(email="named@example.com", username="Named")
    response = APIClient().post(
        TOKEN_URL, {"username": "named", "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    # Username and email attempts share the account's counter.
    for _ in range(5):
        APIClient().post(TOKEN_URL, {"username": "NAMED", "password": "nope"}, format="json")
    assert _api_login(user.email).status_code == 429


@pytest.mark.parametrize(
    "body,attr",
    [
        ({}, "password"),
        ({"password": "x"}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": ["a"], "password": "x"}, "email"),
        ({"email": "a@example.com", "password": 5}, "password"),
        ({"email": "a@example.com", "password": None}, "password"),
        ({"email": "a@example.com", "password": "x", "extra": 1}, "extra"),
        ({"email": "e" * 300, "password": "x"}, "email"),
    ],
)
def test_token_bad_input_is_400(db, body, attr):
    response = APIClient().post(TOKEN_URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["type"] == "validation_error"
    assert attr in {e["attr"] for e in response.json()["errors"]}


def test_token_body_must_be_json(db):
    response = APIClient().post(TOKEN_URL, "email=a&password=b", content_type="text/plain")
    assert response.status_code == 415


def test_unicode_and_odd_emails_fail_cleanly(db):
    for email in ["ünïcødé@exämple.com", "\u202eevil@example.com", "a" * 254, "'; DROP TABLE--"]:
        assert _api_login(email, "pässwörd ✓").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_attempts_cannot_exceed_the_limit_on_redis(rf, settings):
    """The counter is taken under allauth's cache lock (Redis SET NX): 30 threads guessing at
    once get exactly the 5 tries the limit allows."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): the embedded file cache is not atomic")
    allowed, refused = [], []
    barrier = threading.Barrier(30)

    def attempt():
        request = rf.post(TOKEN_URL, REMOTE_ADDR="10.9.9.9")
        barrier.wait()
        try:
            limits.consume_login_attempt(request, email="target@example.com")
            allowed.append(1)
        except Exception as exc:  # noqa: BLE001 - TooManyRequests expected
            refused.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 5
    assert len(refused) == 25
    assert {getattr(e, "code", None) for e in refused} == {"too_many_attempts"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_through_the_endpoint(settings, user_factory):
    if not settings.IS_POSTGRES or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis")
    user = user_factory(email="parallel@example.com")
    statuses = []
    barrier = threading.Barrier(16)

    def attempt(i):
        barrier.wait()
        try:
            response = _api_login(user.email, "wrong password!", REMOTE_ADDR=f"10.0.1.{i}")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) == 5
    assert statuses.count(429) == 11


def test_password_reset_clears_the_lockout_as_on_the_pages(member):
    """allauth wipes the account's counter after a successful reset; so does every door."""
    for _ in range(5):
        _api_login(member.email, "wrong password!")
    assert _api_login(member.email).status_code == 429
    assert (
        APIClient()
        .post("/api/v1/auth/password/reset", {"email": member.email}, format="json")
        .status_code
        == 202
    )
    link = next(
        line
        for line in mail.outbox[-1].body.splitlines()
        if "/accounts/password/reset/key/" in line
    )
    path = link[link.index("/accounts/") :].strip()
    client = Client()
    form_page = client.get(path, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else path,
        {"password1": "a brand new passphrase", "password2": "a brand new passphrase"},
    )
    assert response.status_code == 302
    assert _api_login(member.email, "a brand new passphrase").status_code == 200
