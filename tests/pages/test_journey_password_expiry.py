"""Journey: a password past the policy's expiry_days is replaced right after signing in (the
login stage), the history refuses the old one, and the sign-in then completes; a policy
requiring a second factor past its grace period sends the user to its setup."""

from datetime import timedelta

import pytest
from django.utils import timezone

from access.policies import services
from access.policies.models import PasswordHistory
from access.policies.types import MFA, PASSWORD
from tests.pages.conftest import screenshot, sign_in, url_path, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "expiring.user@example.com"
PASSWORD_NOW = "quiet-lantern-73-rivers"
NEW = "bright-harbour-58-meadows"


def _policy(policy_type, values):
    services.policy_set(organization=None, policy_type=policy_type, values=values, actor=None)


def test_expired_password_is_replaced_at_sign_in(page, site):
    user = verified_user(EMAIL, PASSWORD_NOW)
    _policy(
        PASSWORD,
        {
            "min_length": 10,
            "require_uppercase": False,
            "require_lowercase": False,
            "require_numbers": False,
            "require_special": False,
            "history": 3,
            "expiry_days": 30,
        },
    )
    PasswordHistory.objects.filter(user=user).update(created_at=timezone.now() - timedelta(days=31))
    sign_in(page, site.url, EMAIL, PASSWORD_NOW)
    page.get_by_role("heading", name="Your password has expired").wait_for()
    assert url_path(page.url) == "/account/password-expired/"
    screenshot(page, "password-expired")
    # The same password again is refused by the history.
    page.get_by_label("Password", exact=True).fill(PASSWORD_NOW)
    page.get_by_label("Password (again)").fill(PASSWORD_NOW)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_text("one of your last").wait_for()
    page.get_by_label("Password", exact=True).fill(NEW)
    page.get_by_label("Password (again)").fill(NEW)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_role("heading", name="Your account").wait_for()
    user.refresh_from_db()
    assert user.check_password(NEW)


def test_required_second_factor_sends_to_its_setup(page, site):
    verified_user(EMAIL, PASSWORD_NOW)
    _policy(MFA, {"required_for": "all", "grace_days": 0})
    sign_in(page, site.url, EMAIL, PASSWORD_NOW)
    page.wait_for_url("**/accounts/2fa/")
    page.goto(f"{site.url}/account/")
    page.wait_for_url("**/accounts/2fa/")
    page.get_by_role("heading", name="Authenticator App").wait_for()
