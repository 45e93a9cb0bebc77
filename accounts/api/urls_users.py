"""Routes of users, profiles, settings and roles: /users/*."""

from django.urls import re_path

from accounts.api import users_views as v

UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

urlpatterns = [
    re_path(r"^users/me/?$", v.MeView.as_view(), name="users-me"),
    re_path(r"^users/me/password/?$", v.PasswordView.as_view(), name="users-me-password"),
    re_path(r"^users/me/export/?$", v.ExportView.as_view(), name="users-me-export"),
    re_path(r"^users/me/settings/?$", v.SettingsView.as_view(), name="users-me-settings"),
    re_path(r"^users/me/preferences/?$", v.PreferencesView.as_view(), name="users-me-preferences"),
    re_path(r"^users/bulk/?$", v.UserBulkView.as_view(), name="users-bulk"),
    re_path(r"^users/?$", v.UserListView.as_view(), name="users-list"),
    re_path(rf"^users/(?P<user_id>{UUID})/?$", v.UserDetailView.as_view(), name="users-detail"),
]
