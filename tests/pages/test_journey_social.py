"""Journey 3: sign in with a generic OpenID Connect provider. The provider is a real one
(oidc-provider-mock: discovery, authorization code flow, signed ID tokens, userinfo)
served on a local port for the test."""

import pytest
from allauth.socialaccount.models import SocialAccount
from oidc_provider_mock import User as OidcUser
from oidc_provider_mock import run_server_in_thread

from accounts.models import User
from tests.pages.conftest import open_account_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SUBJECT = "ada-7c1f"
EMAIL = "ada.lovelace@example.org"


@pytest.fixture
def oidc_provider(settings):
    claims = {"email": EMAIL, "email_verified": True, "name": "Ada Lovelace"}
    with run_server_in_thread(user_claims=[OidcUser(sub=SUBJECT, claims=claims)]) as server:
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "APPS": [
                    {
                        "provider_id": "mock-idp",
                        "name": "Mock IdP",
                        "client_id": "roster-test",
                        "secret": "roster-test-secret",
                        "settings": {"server_url": f"http://localhost:{server.server_port}"},
                    }
                ]
            }
        }
        yield server


def test_oidc_login_creates_and_links_account(page, site, oidc_provider):
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_role("link", name="Continue with Mock IdP").click()
    page.get_by_role("button", name="Continue").click()

    # The provider's own consent page: pick the predefined user.
    page.get_by_role("heading", name="Authorize Client").wait_for()
    page.get_by_role("button", name=SUBJECT).click()

    page.get_by_role("heading", name="Your account").wait_for()
    assert EMAIL in page.content()
    user = User.objects.get(email=EMAIL)
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == ("mock-idp", SUBJECT)

    open_account_page(page, "Connected accounts")
    page.get_by_role("heading", name="Account Connections").wait_for()
    assert page.get_by_text("Mock IdP").first.is_visible()
    screenshot(page, "journey3-oidc")


def test_providers_hidden_when_not_configured(page, site, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_role("heading", name="Sign In").wait_for()
    assert page.get_by_role("link", name="Continue with").count() == 0
