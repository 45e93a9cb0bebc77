"""The password-reset request of the API: allauth's reset form and mails, as on the page."""

from __future__ import annotations

from allauth.account.forms import ResetPasswordForm
from allauth.core import context as allauth_context

from accounts.flows.limits import consume_or_429
from accounts.managers import normalize_email


def password_reset_request(*, request, email: str) -> None:
    """Send allauth's reset email (or its "no account" email); never tells which."""
    django_request = getattr(request, "_request", request)
    email = normalize_email(email)
    consume_or_429(request, action="reset_password", key=email)
    with allauth_context.request_context(django_request):
        form = ResetPasswordForm(data={"email": email})
        if form.is_valid():
            form.save(django_request)
