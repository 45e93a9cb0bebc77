"""allauth's models in the admin: read-only, never a secret (accounts/admin_allauth.py)."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from allauth.usersessions.models import UserSession

pytestmark = pytest.mark.django_db

TOTP_SECRET = "JBSWY3DPEHPK3PXPTOTPSECRET"
RECOVERY_SEED = "5eed0fdeadbeefcafe5eed0fdeadbeefcafe"
ACCESS_TOKEN = "gho_socialaccesstoken0042"
TOKEN_SECRET = "socialtokensecret0042"
APP_SECRET = "gh-app-client-secret-0042"
SESSION_KEY = "websessionkey0042websessionkey0042"


@pytest.fixture
def member_secrets(member):
    totp = Authenticator.objects.create(
        user=member, type=Authenticator.Type.TOTP, data={"secret": TOTP_SECRET}
    )
    codes = Authenticator.objects.create(
        user=member,
        type=Authenticator.Type.RECOVERY_CODES,
        data={"seed": RECOVERY_SEED, "used_mask": 0},
    )
    app = SocialApp.objects.create(
        provider="github", name="GitHub", client_id="gh-client", secret=APP_SECRET
    )
    account = SocialAccount.objects.create(
        user=member, provider="github", uid="4242", extra_data={"access_token": ACCESS_TOKEN}
    )
    token = SocialToken.objects.create(
        app=app, account=account, token=ACCESS_TOKEN, token_secret=TOKEN_SECRET
    )
    session = UserSession.objects.create(
        user=member, ip="198.51.100.7", session_key=SESSION_KEY, user_agent="browser"
    )
    return {
        "totp": totp,
        "codes": codes,
        "app": app,
        "account": account,
        "token": token,
        "session": session,
    }


def _assert_no_secret(html: str) -> None:
    for secret in (
        TOTP_SECRET,
        RECOVERY_SEED,
        ACCESS_TOKEN,
        TOKEN_SECRET,
        APP_SECRET,
        SESSION_KEY,
    ):
        assert secret not in html, secret


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("totp", "/admin/mfa/authenticator/"),
        ("codes", "/admin/mfa/authenticator/"),
        ("account", "/admin/socialaccount/socialaccount/"),
        ("session", "/admin/usersessions/usersession/"),
    ],
)
def test_allauth_admin_pages_show_no_secret_and_change_nothing(
    admin_web, admin_user, member, member_secrets, name, url
):
    obj = member_secrets[name]
    listing = admin_web.get(url)
    detail = admin_web.get(f"{url}{obj.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    assert member.email in detail.content.decode()  # a page to read: whose it is
    _assert_no_secret(listing.content.decode() + detail.content.decode())
    # Moving the row to another user (a way into their account) or removing it is refused.
    assert admin_web.post(f"{url}{obj.pk}/change/", {"user": admin_user.pk}).status_code == 403
    assert admin_web.post(f"{url}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_web.get(f"{url}add/").status_code == 403
    obj.refresh_from_db()
    assert obj.user_id == member.pk


def test_social_tokens_are_not_in_the_admin(admin_web, member_secrets):
    token = member_secrets["token"]

    assert admin_web.get("/admin/socialaccount/socialtoken/").status_code == 404
    assert admin_web.get(f"/admin/socialaccount/socialtoken/{token.pk}/change/").status_code == 404
    index = admin_web.get("/admin/").content.decode()
    assert "socialtoken" not in index
    _assert_no_secret(index)


def test_social_app_secret_is_write_only(admin_web, member_secrets):
    app = member_secrets["app"]
    url = f"/admin/socialaccount/socialapp/{app.pk}/change/"
    page = admin_web.get(url)
    assert page.status_code == 200
    _assert_no_secret(
        page.content.decode() + admin_web.get("/admin/socialaccount/socialapp/").content.decode()
    )

    form = {
        "provider": "github",
        "provider_id": "",
        "name": "GitHub renamed",
        "client_id": "gh-client",
        "secret": "",
        "key": "",
        "settings": "{}",
    }
    assert admin_web.post(url, form).status_code == 302
    app.refresh_from_db()
    assert (app.name, app.secret) == ("GitHub renamed", APP_SECRET)  # blank keeps the secret

    assert admin_web.post(url, {**form, "secret": "rotated-secret-0043"}).status_code == 302
    app.refresh_from_db()
    assert app.secret == "rotated-secret-0043"
