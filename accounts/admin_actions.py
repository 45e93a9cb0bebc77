"""The User admin's bulk actions (suspend, reactivate, deactivate, sign out everywhere, reset
MFA, resend verification, password reset, revoke API keys, change roles): each calls the same
service as the API, once per selected user, and reports every refusal by the service."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.admin_parts import RolesForm
from accounts.admin_services import (
    user_mfa_reset,
    user_send_password_reset,
    user_send_verification_email,
)
from accounts.apikeys import api_keys_revoke_all
from accounts.models import User
from accounts.services.users import user_deactivate, user_set_roles, user_set_status
from accounts.sessions import revoke_user_sessions
from config.errors import DomainError


class UserActionsMixin:
    """Mixed into ``accounts.admin.UserAdmin`` (a ModelAdmin), which lists the actions."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _apply(
        self,
        request: HttpRequest,
        queryset,
        service: Callable[..., object],
        done: str,
        **arguments,
    ) -> None:
        """Call ``service(user=, actor=, request=, **arguments)`` per selected user; report
        the successes and each refusal by the service."""
        succeeded = 0
        for user in queryset:
            try:
                service(user=user, actor=request.user, request=request, **arguments)
            except DomainError as error:
                self.message_user(request, f"{user.email}: {error.detail}", messages.ERROR)
            except ValidationError as error:
                detail = " ".join(error.messages)
                self.message_user(request, f"{user.email}: {detail}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            noun = "user" if succeeded == 1 else "users"
            self.message_user(request, f"{done}: {succeeded} {noun}.", messages.SUCCESS)

    def _confirmation(
        self, request, queryset, *, template: str, title: str, action: str, **context
    ) -> TemplateResponse:
        """The page that asks to confirm ``action`` for the selected users."""
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                "users": list(queryset),
                **context,
                "action": action,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "select_across": request.POST.get("select_across", "0"),
            },
        )

    @admin.action(description="Suspend selected users", permissions=["change"])
    def suspend_users(self, request, queryset):
        self._apply(request, queryset, user_set_status, "Suspended", status=User.Status.SUSPENDED)

    @admin.action(description="Reactivate selected users", permissions=["change"])
    def reactivate_users(self, request, queryset):
        self._apply(request, queryset, user_set_status, "Reactivated", status=User.Status.ACTIVE)

    @admin.action(description="Deactivate selected users", permissions=["change"])
    def deactivate_users(self, request, queryset):
        self._apply(request, queryset, user_deactivate, "Deactivated")

    @admin.action(description="Sign out everywhere (web and API)", permissions=["change"])
    def sign_out_everywhere(self, request, queryset):
        own_session = request.session.session_key

        def sign_out(*, user, actor, request):
            revoke_user_sessions(
                user=user,
                actor=actor,
                request=request,
                reason="admin_sign_out",
                # Signing yourself out everywhere keeps the page you are using.
                keep_web_session_key=own_session if user.pk == actor.pk else None,
            )

        self._apply(request, queryset, sign_out, "Signed out everywhere")

    @admin.action(description="Reset MFA (remove authenticators)…", permissions=["change"])
    def reset_mfa(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirmation(
                request,
                queryset,
                template="admin/accounts/user/reset_mfa_confirm.html",
                title="Reset MFA?",
                action="reset_mfa",
            )
        self._apply(request, queryset, user_mfa_reset, "MFA reset")

    @admin.action(description="Resend verification email", permissions=["change"])
    def resend_verification_email(self, request, queryset):
        self._apply(request, queryset, user_send_verification_email, "Verification email sent")

    @admin.action(description="Send password reset email", permissions=["change"])
    def send_password_reset(self, request, queryset):
        self._apply(request, queryset, user_send_password_reset, "Password reset email sent")

    @admin.action(description="Revoke all API keys", permissions=["change"])
    def revoke_api_keys(self, request, queryset):
        self._apply(
            request, queryset, api_keys_revoke_all, "API keys revoked", reason="admin_revoked"
        )

    @admin.action(description="Change roles…", permissions=["change"])
    def change_roles(self, request, queryset):
        form = RolesForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_valid():
            return self._confirmation(
                request,
                queryset,
                template="admin/accounts/user/change_roles.html",
                title="Change roles",
                action="change_roles",
                form=form,
            )
        roles = form.cleaned_data["roles"] or ["member"]
        self._apply(
            request, queryset, user_set_roles, f"Roles set to {', '.join(roles)}", roles=roles
        )
