from django.urls import path, re_path

from accounts import oidc_grants_views, preferences, views
from accounts.flows import stages

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.overview, name="account-overview"),
    path(
        "account/password-expired/",
        stages.password_expired_page,
        name="account-password-expired",
    ),
    path("account/api-keys/", views.api_keys, name="account-api-keys"),
    path(
        "account/api-keys/<uuid:key_id>/revoke/",
        views.api_key_revoke,
        name="account-api-key-revoke",
    ),
    path("account/sessions/", views.sessions_list, name="account-sessions"),
    path(
        "account/sessions/<uuid:session_id>/revoke/",
        views.session_revoke,
        name="account-session-revoke",
    ),
    path(
        "account/sessions/revoke-others/",
        views.sessions_revoke_others,
        name="account-sessions-revoke-others",
    ),
    path(
        "account/connected-apps/", oidc_grants_views.connected_apps, name="account-connected-apps"
    ),
    path(
        "account/connected-apps/<str:client_id>/revoke/",
        oidc_grants_views.connected_app_revoke,
        name="account-connected-app-revoke",
    ),
    path("account/profile/", views.profile, name="account-profile"),
    path("account/settings/", views.settings_page, name="account-settings"),
    path("account/security-log/", views.security_log, name="account-security-log"),
    path("account/data/", views.data, name="account-data"),
    path("account/data/export/", views.data_export, name="account-data-export"),
    path("account/data/delete/", views.account_delete, name="account-delete"),
    re_path(
        r"^theme/accent-(?P<hex_digits>[0-9a-f]{6})\.css$",
        preferences.accent_stylesheet,
        name="accent-stylesheet",
    ),
]
