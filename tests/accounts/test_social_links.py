"""Social account links: what connects or disconnects a provider identity, and who may.

The provider is a real one (oidc-provider-mock: authorization code flow, signed ID tokens,
userinfo) served on a local port; the Django test client plays the browser on Roster's side
and ``requests`` plays it on the provider's consent page.
"""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
import time_machine
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oidc_provider_mock import User as OidcUser
from oidc_provider_mock import run_server_in_thread

from accounts.impersonation import SESSION_KEY
from accounts.models import User
from audit.models import AuditEvent
from audit.personal import reveal
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

PROVIDER = "mock-idp"
START = f"/accounts/oidc/{PROVIDER}/login/"
CALLBACK = f"/accounts/oidc/{PROVIDER}/login/callback/"
SUBJECT = "grace-5e2a"
EMAIL = "grace.hopper@example.org"


@pytest.fixture
def oidc_provider(settings):
    claims = {"email": EMAIL, "email_verified": True, "name": "Grace Hopper"}
    with run_server_in_thread(user_claims=[OidcUser(sub=SUBJECT, claims=claims)]) as server:
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "APPS": [
                    {
                        "provider_id": PROVIDER,
                        "name": "Mock IdP",
                        "client_id": "roster-test",
                        "secret": "roster-test-secret",
                        "settings": {"server_url": f"http://localhost:{server.server_port}"},
                    }
                ]
            }
        }
        yield server


def consent(authorize_url: str, sub: str = SUBJECT) -> str:
    """Pick ``sub`` on the provider's consent page; returns Roster's callback path + query."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert location.path == CALLBACK
    return f"{location.path}?{location.query}"


def go_to_provider(web: Client, process: str = "connect") -> str:
    """Press "Continue" on Roster's provider page; returns the provider's authorize URL."""
    response = web.post(f"{START}?process={process}")
    assert response.status_code == 302, response.content
    assert response["Location"].startswith("http://localhost:")
    return response["Location"]


def reauthenticate(web: Client, password: str = DEFAULT_PASSWORD):
    response = web.post("/accounts/reauthenticate/", {"password": password})
    assert response.status_code == 302, response.content
    return response


def signed_in(user) -> Client:
    web = Client()
    web.force_login(user)
    return web


def social_events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- connecting -------------------------------------------------------------------------


def test_connect_links_the_identity_and_records_it(member, oidc_provider):
    web = signed_in(member)
    reauthenticate(web)

    response = web.get(consent(go_to_provider(web)))

    assert response.status_code == 302 and response["Location"] == "/accounts/3rdparty/"
    account = SocialAccount.objects.get(user=member)
    assert (account.provider, account.uid) == (PROVIDER, SUBJECT)
    (event,) = social_events("auth.social.connected")
    assert (event.actor_id, event.target_id) == (str(member.pk), str(member.pk))
    # Exactly these keys: the provider's tokens and profile never reach the log.
    assert reveal(event).metadata == {"door": "page", "provider": PROVIDER, "uid": SUBJECT}
    assert SUBJECT not in str(event.metadata)  # the uid is sealed as personal data
    assert "Mock IdP" in web.get("/accounts/3rdparty/").content.decode()


def test_connect_after_a_stale_sign_in_asks_to_reauthenticate_first(member, oidc_provider):
    web = Client()
    with time_machine.travel(timezone.now() - timedelta(hours=2)):
        assert (
            web.post(
                "/accounts/login/", {"login": member.email, "password": DEFAULT_PASSWORD}
            ).status_code
            == 302
        )
        reauthenticate(web)

    response = web.get(consent(go_to_provider(web)))

    assert response.status_code == 302 and response["Location"] == "/accounts/reauthenticate/"
    assert not SocialAccount.objects.filter(user=member).exists()
    assert not social_events("auth.social.connected")

    # Right after the password, the connect that was waiting completes.
    response = reauthenticate(web)

    assert response["Location"] == "/accounts/3rdparty/"
    account = SocialAccount.objects.get(user=member)
    assert (account.provider, account.uid) == (PROVIDER, SUBJECT)
    assert len(social_events("auth.social.connected")) == 1


def test_connect_with_a_wrong_password_at_reauthentication_links_nothing(member, oidc_provider):
    web = signed_in(member)

    web.get(consent(go_to_provider(web)))
    response = web.post("/accounts/reauthenticate/", {"password": "not the password"})

    assert response.status_code == 200
    assert not SocialAccount.objects.filter(user=member).exists()
    assert not social_events("auth.social.connected")


# --- disconnecting ----------------------------------------------------------------------


@pytest.fixture
def linked(member, oidc_provider):
    return SocialAccount.objects.create(
        user=member, provider=PROVIDER, uid=SUBJECT, extra_data={"access_token": "at-secret"}
    )


def test_disconnect_on_the_connections_page_is_recorded(member, linked):
    web = signed_in(member)
    reauthenticate(web)

    response = web.post("/accounts/3rdparty/", {"account": linked.pk})

    assert response.status_code == 302
    assert not SocialAccount.objects.filter(pk=linked.pk).exists()
    (event,) = social_events("auth.social.disconnected")
    assert (event.actor_id, event.target_id) == (str(member.pk), str(member.pk))
    assert reveal(event).metadata == {"door": "page", "provider": PROVIDER, "uid": SUBJECT}
    assert "at-secret" not in str(event.metadata)


def test_disconnect_without_a_recent_reauthentication_asks_for_it(member, linked):
    web = signed_in(member)

    response = web.post("/accounts/3rdparty/", {"account": linked.pk})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert SocialAccount.objects.filter(pk=linked.pk).exists()
    assert not social_events("auth.social.disconnected")


# --- signing up with a provider ---------------------------------------------------------


def test_social_sign_up_makes_a_member_and_records_the_link(oidc_provider):
    web = Client()

    response = web.get(consent(go_to_provider(web, process="login")))

    assert response.status_code == 302
    user = User.objects.get(email=EMAIL)
    me = web.get("/api/v1/users/me")
    assert me.status_code == 200
    assert me.json()["email"] == EMAIL and me.json()["roles"] == ["member"]
    (event,) = social_events("auth.social.connected")
    assert event.target_id == str(user.pk)
    assert reveal(event).metadata == {"door": "page", "provider": PROVIDER, "uid": SUBJECT}


# --- impersonation ----------------------------------------------------------------------


@pytest.fixture
def impersonating(settings, admin_user, member):
    settings.ROSTER = {**settings.ROSTER, "IMPERSONATION_ENABLED": True}
    web = signed_in(admin_user)
    reauthenticate(web)
    assert web.post(f"/admin/accounts/user/{member.pk}/impersonate/").status_code == 302
    return web


def assert_refused(response) -> None:
    assert response.status_code == 403
    assert "Not available while impersonating" in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", f"{START}?process=connect", None),
        ("post", f"{START}?process=connect", None),
        ("post", START, {"process": "connect"}),
        # A sign-in from here would drop the admin's session for the member's or a stranger's.
        ("post", START, None),
    ],
)
def test_impersonation_refuses_to_start_a_connect(
    impersonating, member, oidc_provider, method, path, data
):
    assert_refused(getattr(impersonating, method)(path, data))

    assert SESSION_KEY in impersonating.session
    assert "socialaccount_states" not in impersonating.session


def test_impersonation_refuses_the_callback_of_a_connect_begun_before(
    impersonating, admin_user, member, oidc_provider
):
    # The admin begins a connect in their own name, then impersonates the member and lets
    # the provider call back: the link must not land on the member (nor on the admin).
    impersonating.post(reverse("admin:impersonation-end"))
    assert SESSION_KEY not in impersonating.session
    authorize_url = go_to_provider(impersonating)
    assert impersonating.post(f"/admin/accounts/user/{member.pk}/impersonate/").status_code == 302

    assert_refused(impersonating.get(consent(authorize_url)))

    assert not SocialAccount.objects.exists()
    assert not social_events("auth.social.connected")


def test_social_adapter_refuses_any_social_login_while_impersonating(admin_user, member, rf):
    # The adapter is the last line: whatever URL reaches a provider callback, allauth asks
    # pre_social_login before it connects, signs up or signs in.
    request = rf.get(CALLBACK)
    request.user, request.impersonator = member, admin_user
    sociallogin = SocialLogin(account=SocialAccount(provider=PROVIDER, uid=SUBJECT), user=User())

    with pytest.raises(ImmediateHttpResponse) as refused:
        get_adapter(request).pre_social_login(request, sociallogin)

    assert refused.value.response.status_code == 403


def test_impersonation_refuses_to_disconnect(impersonating, member, linked):
    assert_refused(impersonating.post("/accounts/3rdparty/", {"account": linked.pk}))

    assert SocialAccount.objects.filter(pk=linked.pk).exists()
    assert not social_events("auth.social.disconnected")
