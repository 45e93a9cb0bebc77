"""The pages' forms: a number to set up, the code that proves it, and allauth's MFA code
form accepting SMS codes too (``MFA_FORMS["authenticate"]``)."""

from __future__ import annotations

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm as AllauthAuthenticateForm
from allauth.mfa.models import Authenticator
from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from accounts.flows import limits
from accounts.sms import services
from accounts.sms.models import masked_phone
from config.errors import Invalid


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        help_text=_("In international format, with the country code: +14155550123."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_phone(self) -> str:
        try:
            return services.normalize_phone(self.cleaned_data["phone"])
        except Invalid as exc:
            raise ValidationError(exc.detail, code=exc.code) from exc


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class AuthenticateForm(AllauthAuthenticateForm):
    """allauth's second-factor form, accepting a code sent by SMS besides TOTP and recovery
    codes. Every try counts once against the same per-account limit as allauth's own codes
    (accounts.flows.limits keeps allauth's counters): an SMS code is tried under that count,
    and when it is not the code the count is handed back for allauth's check to take."""

    sms_device = None

    @cached_property
    def authenticator_types(self) -> frozenset[str]:
        """The kinds of second factor this user has (``totp``, ``recovery_codes``,
        ``webauthn``): the page offers only these, plus SMS when ``sms_phone`` is set."""
        return frozenset(
            Authenticator.objects.filter(user=self.user).values_list("type", flat=True)
        )

    @property
    def sms_phone(self) -> str | None:
        device = services.device_of(self.user)
        return masked_phone(device.phone) if device else None

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if services.device_of(self.user) is not None:
            request = context.request
            key = limits.mfa_attempt_key(self.user)
            usage = limits.consume(request, action=limits.LOGIN_FAILED, key=key)
            if usage is None:
                raise get_account_adapter().validation_error("too_many_login_attempts")
            device = services.login_code_take(user=self.user, code=code)
            if device is not None:
                limits.clear(request, action=limits.LOGIN_FAILED, key=key)
                self.sms_device = device
                self.authenticator = None
                return code
            usage.rollback()
        return super().clean_code()

    def save(self) -> None:
        # An SMS code has no allauth authenticator to record; the stage's exit signs in.
        if self.sms_device is None:
            super().save()
