"""Account pages through Django's test client: access, validation, rate limits, headers."""

import pytest
from django.urls import reverse

from accounts.models import ApiKey
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ACCOUNT_PAGES = ["account-overview", "account-api-keys", "account-sessions"]


@pytest.fixture
def browser_client(client, member):
    client.force_login(member)
    return client


@pytest.mark.parametrize("name", ACCOUNT_PAGES)
def test_account_pages_anonymous_redirects_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("name", ACCOUNT_PAGES)
def test_account_pages_owner_sees_them(browser_client, name):
    response = browser_client.get(reverse(name))
    assert response.status_code == 200
    assert b'aria-label="Account"' in response.content


def test_pages_send_csp_without_inline_scripts(client):
    response = client.get(reverse("account_login"))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "<script>" not in response.content.decode()


def test_api_key_create_shows_secret_once(browser_client, member):
    response = browser_client.post(
        reverse("account-api-keys"),
        {"name": "ci", "scopes": ["slots:read", "usage:read"]},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(user=member)
    secret = response.context["secret"]
    assert secret.startswith("rst_") and secret.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    assert key.scopes == ["slots:read", "usage:read"]
    assert AuditEvent.objects.filter(action="apikey.created", target_id=str(key.pk)).exists()
    again = browser_client.get(reverse("account-api-keys"))
    assert secret.encode() not in again.content
    assert secret[: len("rst_") + len(key.prefix)].encode() in again.content
    assert "roster.new_api_key" not in browser_client.session


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "", "scopes": ["slots:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["slots:read"]}, "name"),
        ({"name": "ok", "scopes": []}, "scopes"),
        ({"name": "ok", "scopes": ["root:everything"]}, "scopes"),
        ({"name": "ok", "scopes": ["slots:read"], "expires_on": "2001-01-01"}, "expires_on"),
        ({"name": "ok", "scopes": ["slots:read"], "expires_on": "not a date"}, "expires_on"),
        ({"name": "nul\x00byte", "scopes": ["slots:read"]}, "name"),
    ],
)
def test_api_key_create_bad_input_is_shown_next_to_the_field(browser_client, data, field):
    response = browser_client.post(reverse("account-api-keys"), data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not ApiKey.objects.exists()


def test_api_key_revoke_other_users_key_is_404(browser_client, other_member):
    from accounts.apikeys import api_key_create

    key, _ = api_key_create(user=other_member, name="theirs", scopes=["slots:read"], actor=None)
    response = browser_client.post(reverse("account-api-key-revoke", args=[key.pk]))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_api_key_revoke_needs_post_and_csrf(member, client):
    from django.test import Client

    from accounts.apikeys import api_key_create

    key, _ = api_key_create(user=member, name="mine", scopes=["slots:read"], actor=member)
    url = reverse("account-api-key-revoke", args=[key.pk])
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    assert strict.get(url).status_code == 405
    assert strict.post(url).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_session_revoke_unknown_id_is_a_message_not_a_500(browser_client):
    response = browser_client.post(
        reverse("account-session-revoke", args=["00000000-0000-4000-8000-000000000000"]),
        follow=True,
    )
    assert response.status_code == 200
    assert b"No such session." in response.content


def test_sign_in_page_locks_out_after_failed_attempts(client, member, password):
    # allauth's login_failed limit (5 per account per 5 minutes) refuses even the right
    # password afterwards, with a message on the form rather than a 429 page.
    for _ in range(5):
        client.post(reverse("account_login"), {"login": member.email, "password": "wrong"})
    response = client.post(reverse("account_login"), {"login": member.email, "password": password})
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_password_reset_page_is_rate_limited(client, member):
    statuses = [
        client.post(reverse("account_reset_password"), {"email": member.email}).status_code
        for _ in range(6)
    ]
    assert statuses[0] == 302
    assert statuses[-1] == 429


def test_sign_up_page_is_rate_limited(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "3/m/ip"}
    statuses = []
    for n in range(4):
        data = {"email": f"new{n}@example.com", "password1": "Xq!" * 5, "password2": "Xq!" * 5}
        statuses.append(client.post(reverse("account_signup"), data).status_code)
    assert statuses[:3] == [302, 302, 302]
    assert statuses[3] == 429


def test_usage_page_shows_totals_chart_and_quota(browser_client, member):
    from usage.models import Meter

    Meter.objects.create(key="api.calls", name="API calls", aggregation="count", limit=100)
    response = browser_client.get(reverse("usage-overview"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-meter="api.calls"' in body
    assert 'data-testid="usage-chart"' in body
    assert "API calls: 0 of 100" in body


@pytest.mark.parametrize("query", ["?period=999d", "?meter=%00", "?period=&meter=nope"])
def test_usage_page_ignores_bad_parameters(browser_client, query):
    assert browser_client.get(reverse("usage-overview") + query).status_code == 200


def test_email_change_replaces_the_address_only_once_confirmed(client, member, password):
    import re

    from allauth.account.models import EmailAddress
    from django.core import mail

    EmailAddress.objects.create(user=member, email=member.email, primary=True, verified=True)
    client.post("/accounts/login/", {"login": member.email, "password": password})
    response = client.post(
        reverse("account_email"), {"email": "new-address@example.com", "action_add": ""}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.email == "member@example.com"  # still the verified one
    page = client.get(reverse("account_email")).content.decode()
    assert "new-address@example.com" in page and "pending verification" in page
    assert 'style="' not in page  # the CSP refuses inline styles

    link = re.search(r"https?://[^/]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    client.post(link.group(1))
    member.refresh_from_db()
    assert member.email == "new-address@example.com"
    assert list(EmailAddress.objects.filter(user=member).values_list("email", flat=True)) == [
        "new-address@example.com"
    ]
