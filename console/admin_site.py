"""Roster's admin site: Django's admin with a dashboard on the index, sign-in through the
account pages, and the impersonation URLs.

Installed through ``RosterAdminConfig`` (in ``INSTALLED_APPS`` instead of
``django.contrib.admin``), so ``admin.site`` *is* this site and every app keeps registering
with ``@admin.register`` as usual; each registered ModelAdmin gets the pages' time format
(accounts.admin_time).

Django imports this module while it populates the app registry, before any model is
loaded, so what needs models (allauth, the dashboard, impersonation) is imported in the
methods that use it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import path


class RosterAdminSite(admin.AdminSite):
    site_header = "Roster admin"
    site_title = "Roster admin"
    index_title = "Console"

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every ModelAdmin shows its dates in the signed-in admin's zone, date format and
        clock, as the pages do (accounts.admin_time)."""
        from accounts.admin_time import user_time_admin

        admin_class = user_time_admin(admin_class or admin.ModelAdmin)
        return super().register(model_or_iterable, admin_class, **options)

    def login(self, request, extra_context=None):
        """Admins sign in through the account pages, under the one login policy (lockout,
        rate limits, email verification, MFA, audit) instead of a second, weaker door."""
        from allauth.account.decorators import secure_admin_login

        return secure_admin_login(super().login)(request, extra_context)

    def index(self, request, extra_context=None):
        from console.dashboard import dashboard_for

        context = {"dashboard": dashboard_for(request), **(extra_context or {})}
        return super().index(request, context)

    def get_app_list(self, request, app_label=None):
        """One section per name: allauth's ``account`` app (email addresses) is also called
        "Accounts", so its models join the section of Roster's accounts app."""
        sections: dict[str, dict] = {}
        for app in super().get_app_list(request, app_label):
            name = str(app["name"])
            same = sections.get(name)
            if same is None:
                sections[name] = app
                continue
            # Roster's app keeps the section's link; the other's models move in.
            base, other = (app, same) if app["app_label"] == "accounts" else (same, app)
            base["models"] = sorted(
                [*base["models"], *other["models"]], key=lambda m: str(m["name"])
            )
            sections[name] = base
        return list(sections.values())

    def get_urls(self):
        from accounts import impersonation

        # Not wrapped in admin_view: while impersonating, request.user is the member, who
        # has no admin access, yet must be able to end the impersonation.
        return [
            path(
                "impersonation/end/",
                impersonation.end_view,
                name="impersonation-end",
            ),
            *super().get_urls(),
        ]


class RosterAdminConfig(AdminConfig):
    default_site = "console.admin_site.RosterAdminSite"
