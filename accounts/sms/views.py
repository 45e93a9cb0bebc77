"""The pages of the SMS factor: add a phone (a code is sent, the code confirms it), remove
it, and, during a sign-in's MFA step, send a code."""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from allauth.account.stages import LoginStageController
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.sms import services
from accounts.sms.backends import SmsUnavailable
from accounts.sms.forms import CodeForm, PhoneForm
from accounts.sms.models import masked_phone
from config.errors import DomainError, Forbidden, Invalid, NotFound, TooManyRequests

# allauth's login stage of the second factor (allauth.mfa.stages.AuthenticateStage.key).
MFA_STAGE = "mfa_authenticate"


def _refusal(request, exc: DomainError) -> None:
    if isinstance(exc, TooManyRequests):
        messages.error(request, _("Too many codes were sent. Try again later."))
    elif isinstance(exc, SmsUnavailable):
        messages.error(request, _("The text message could not be sent. Try again later."))
    else:
        messages.error(request, exc.detail)


@never_cache
@login_required
@reauthentication_required
def setup(request):
    """The number to add (or to replace the one set up): a code is texted to it."""
    form = PhoneForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.setup_start(request, user=request.user, phone=form.cleaned_data["phone"])
        except (TooManyRequests, SmsUnavailable, Forbidden) as exc:
            _refusal(request, exc)
        else:
            return redirect("mfa-sms-confirm")
    device = services.device_of(request.user)
    return render(
        request,
        "mfa/sms/setup.html",
        {"form": form, "phone": masked_phone(device.phone) if device else None},
    )


@never_cache
@login_required
@reauthentication_required
def confirm(request):
    """The code texted by :func:`setup`: the number is the account's SMS factor then."""
    pending = services.pending_phone(request.user)
    if pending is None:
        messages.error(request, _("The code has expired. Enter the number again."))
        return redirect("mfa-sms-setup")
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.setup_confirm(request, user=request.user, code=form.cleaned_data["code"])
        except Invalid as exc:
            form.add_error("code", exc.detail)
        except Forbidden as exc:
            _refusal(request, exc)
        else:
            messages.success(request, _("Codes by SMS are on."))
            return redirect("mfa_index")
    return render(request, "mfa/sms/confirm.html", {"form": form, "phone": pending})


@require_POST
@login_required
@reauthentication_required
def remove(request):
    try:
        services.remove(request, user=request.user)
    except NotFound as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Codes by SMS are off."))
    return redirect("mfa_index")


@require_POST
def send_login_code(request):
    """The "Send a code by SMS" button of the sign-in's MFA step."""
    stage = LoginStageController.enter(request, MFA_STAGE)
    if stage is None or stage.login.user is None:
        return redirect("account_login")
    try:
        device = services.send_login_code(request, user=stage.login.user)
    except DomainError as exc:
        _refusal(request, exc)
    else:
        messages.info(
            request, _("A code was sent to %(phone)s.") % {"phone": masked_phone(device.phone)}
        )
    return redirect("mfa_authenticate")
