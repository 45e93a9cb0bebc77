"""The pages' sign-in step for an expired password: an allauth login stage (listed by
accounts.adapters.AccountAdapter.get_login_stages, after the second factor) that, while the
account's password has expired under the password policy's ``expiry_days``
(accounts.policy_rules), asks for a new one before the sign-in completes. The user is not
signed in until the new password is accepted (the password validators, history included);
abandoning the form leaves them signed out."""

from __future__ import annotations

from allauth.account.forms import SetPasswordForm
from allauth.account.stages import LoginStage, LoginStageController
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.flows.password import expired_password_replace
from accounts.policy_rules import password_expired

PASSWORD_EXPIRED_STAGE = "roster_password_expired"  # noqa: S105 - a stage key


class PasswordExpiredStage(LoginStage):
    key = PASSWORD_EXPIRED_STAGE
    urlname = "account-password-expired"

    def handle(self):
        user = self.login.user
        if user is None or not password_expired(user):
            return None, True
        # Our pages are always served (Roster does not run allauth headless-only), so the
        # stage's page is a plain redirect.
        return redirect(self.urlname), True


@never_cache
@sensitive_post_parameters("password1", "password2")
def password_expired_page(request):
    """The form of :class:`PasswordExpiredStage`: a new password, twice."""
    stage = LoginStageController.enter(request, PASSWORD_EXPIRED_STAGE)
    if stage is None:
        return redirect("account_login")
    user = stage.login.user
    form = SetPasswordForm(data=request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            expired_password_replace(
                user=user, new_password=form.cleaned_data["password1"], request=request
            )
        except ValidationError as exc:
            form.add_error("password1", exc.error_dict.get("new_password", exc.messages))
        else:
            return stage.exit()
    return render(request, "account/password_expired.html", {"form": form})
