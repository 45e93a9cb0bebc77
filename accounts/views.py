"""The account pages. Thin: forms shape the input, the services of each app act."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import apikeys, export, preferences, selectors, sessions
from accounts.flows import limits
from accounts.forms import (
    ApiKeyCreateForm,
    DeleteAccountForm,
    ProfileForm,
    SettingsForm,
    setting_field_name,
)
from accounts.i18n import supported_language
from accounts.models import ApiKey, SettingDefinition
from accounts.services.erasure import user_request_erasure
from accounts.services.fields import known_locales, timezones
from accounts.services.settings import settings_update
from accounts.services.users import user_update_profile
from audit.selectors import security_log_page
from config.api.renderers import ExactDjangoJSONEncoder
from config.errors import DomainError, TooManyRequests
from config.views import too_many_requests


def add_domain_error(form, exc: DomainError, field_names: dict[str, str] | None = None) -> None:
    """Show a service's error next to the field it names (or above the form)."""
    field = (field_names or {}).get(exc.attr or "", exc.attr)
    form.add_error(field if field in form.fields else None, exc.detail)


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("account-overview")
    return render(request, "roster/home.html")


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "email_verified": EmailAddress.objects.filter(
            user=user, email__iexact=user.email, verified=True
        ).exists(),
        "mfa_enabled": selectors.has_mfa(user),
        "roles": user.roles,
    }
    return render(request, "roster/overview.html", context)


# --- API keys -----------------------------------------------------------------------------


NEW_KEY_SESSION_KEY = "roster.new_api_key"


@never_cache
@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ApiKeyCreateForm(request.POST)
        if form.is_valid():
            try:
                created, secret = apikeys.api_key_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=form.expires_at(),
                    actor=request.user,
                    request=request,
                )
            except DomainError as exc:
                add_domain_error(form, exc, {"expires_at": "expires_on"})
            else:
                # Post/redirect/get, so a reload cannot create a second key. The secret
                # waits in the session only until the next page view pops it.
                request.session[NEW_KEY_SESSION_KEY] = {"id": str(created.pk), "secret": secret}
                return redirect("account-api-keys")
    else:
        form = ApiKeyCreateForm()
    new_key = request.session.pop(NEW_KEY_SESSION_KEY, None) if request.method == "GET" else None
    keys = ApiKey.objects.filter(user=request.user, revoked_at__isnull=True).order_by("-created_at")
    created = next((k for k in keys if new_key and str(k.pk) == new_key["id"]), None)
    return render(
        request,
        "roster/api_keys.html",
        {
            "form": form,
            "keys": keys,
            "created": created,
            "secret": new_key["secret"] if created else None,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def api_key_revoke(request: HttpRequest, key_id) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id, user=request.user, revoked_at__isnull=True)
    apikeys.api_key_revoke(key=key, actor=request.user, request=request)
    messages.success(
        request, _("The API key “%(name)s” was revoked; it no longer works.") % {"name": key.name}
    )
    return redirect("account-api-keys")


# --- Sessions -----------------------------------------------------------------------------


@login_required
def sessions_list(request: HttpRequest) -> HttpResponse:
    rows = sessions.user_sessions_list(
        user=request.user, current_web_key=request.session.session_key
    )
    return render(request, "roster/sessions.html", {"sessions": rows})


@require_POST
@login_required
def session_revoke(request: HttpRequest, session_id) -> HttpResponse:
    try:
        sessions.user_session_revoke(
            user=request.user, session_id=str(session_id), actor=request.user, request=request
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("The session was signed out."))
    return redirect("account-sessions")


@require_POST
@login_required
def sessions_revoke_others(request: HttpRequest) -> HttpResponse:
    count = sessions.revoke_user_sessions(
        user=request.user,
        actor=request.user,
        request=request,
        reason="revoked_by_user",
        keep_web_session_key=request.session.session_key,
    )
    messages.success(
        request,
        ngettext(
            "Signed out %(count)d other session.", "Signed out %(count)d other sessions.", count
        )
        % {"count": count},
    )
    return redirect("account-sessions")


# --- Profile and settings -----------------------------------------------------------------


def add_validation_errors(form, exc: ValidationError, field_names: dict[str, str] | None = None):
    """Put a service's ``ValidationError({attr: [...]})`` next to the fields it names."""
    names = field_names or {}
    if not hasattr(exc, "error_dict"):
        for text in exc.messages:
            form.add_error(None, text)
        return
    for attr, errors in exc.error_dict.items():
        field = names.get(attr, attr)
        for error in errors:
            for text in error.messages:
                form.add_error(field if field in form.fields else None, text)


def _profile_form(request, data=None):
    language_names = dict(settings.LANGUAGES)  # each language in its own words
    user = request.user
    return ProfileForm(
        data,
        initial={f: getattr(user, f) or "" for f in ProfileForm.base_fields},
        timezones=sorted(timezones()),
        locales=[(code, language_names[code]) for code in sorted(known_locales().values())],
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = _profile_form(request, request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            # An empty username means "none", as null does in the API.
            data["username"] = data["username"] or None
            try:
                user_update_profile(
                    user=request.user, data=data, actor=request.user, request=request
                )
            except ValidationError as exc:
                add_validation_errors(form, exc)
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                # In the language just chosen: the next page is in it too.
                chosen = supported_language(data.get("locale")) or translation.get_language()
                with translation.override(chosen):
                    messages.success(request, _("Profile saved."))
                return redirect("account-profile")
    else:
        form = _profile_form(request)
    return render(
        request, "roster/profile.html", {"form": form}, status=400 if form.errors else 200
    )


def _settings_form(request, data=None):
    definitions = list(SettingDefinition.objects.order_by("category", "key"))
    # Preferences first: they are what most people come here for.
    definitions.sort(key=lambda d: (d.category != "preferences", d.category, d.key))
    current = {s["key"]: s["value"] for s in selectors.user_settings(user=request.user)}
    return SettingsForm(data, definitions=definitions, current=current), current


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    form, current = _settings_form(request, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        changed = form.changed_values(current)
        try:
            settings_update(user=request.user, values=changed, actor=request.user, request=request)
        except ValidationError as exc:
            add_validation_errors(form, exc, {k: setting_field_name(k) for k in changed})
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Settings saved.") if changed else _("Nothing to change."))
            return redirect("account-settings")
    return render(
        request, "roster/settings.html", {"form": form}, status=400 if form.errors else 200
    )


# --- Security log -------------------------------------------------------------------------


@login_required
def security_log(request: HttpRequest) -> HttpResponse:
    # Admins may see every event elsewhere; this page is always one's own log.
    page_size = preferences.current().page_size  # the user's "page_size" preference
    before = request.GET.get("before", "")
    rows, older = security_log_page(request.user, before=before, size=page_size)
    return render(
        request,
        "roster/security_log.html",
        {"events": rows, "older": older, "is_first_page": not before},
    )


# --- Your data: export, delete ------------------------------------------------------------


@login_required
def data(request: HttpRequest) -> HttpResponse:
    return render(request, "roster/data.html", {"form": DeleteAccountForm(user=request.user)})


@never_cache
@login_required
def data_export(request: HttpRequest) -> HttpResponse:
    document = export.user_export(user=request.user)
    response = JsonResponse(
        document,
        encoder=ExactDjangoJSONEncoder,  # usage figures are exact decimals, written as numbers
        json_dumps_params={"indent": 2, "ensure_ascii": False},
    )
    stamp = timezone.now().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="roster-export-{stamp}.json"'
    return response


@require_POST
@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    # Wrong passwords count against the same per-account limit as DELETE /api/v1/users/me.
    form = DeleteAccountForm(request.POST, user=request.user)
    try:
        limits.password_check_allowed(request, user=request.user)
    except TooManyRequests as exc:
        return too_many_requests(request, wait=exc.wait)
    if form.has_error("password", "invalid_password"):
        limits.password_check_failed(request, user=request.user)
    if form.is_valid():
        try:
            user_request_erasure(user=request.user, actor=request.user, request=request)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            auth_logout(request)
            messages.success(
                request,
                _(
                    "Your account is deleted: you are signed out, and your personal data will "
                    "be erased after the grace period."
                ),
            )
            return redirect("home")
    return render(request, "roster/data.html", {"form": form}, status=400)
