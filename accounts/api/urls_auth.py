"""Routes of the sign-in door: /auth/*, /users/me/sessions, /users/me/connected-apps,
/users/me/api-keys."""

from django.urls import re_path

from accounts.api import auth_views as v
from accounts.api import sessions_views
from accounts.api.oidc_grants_views import ConnectedAppDetailView, ConnectedAppListView
from accounts.sms.api import TokenMfaSmsView

api_keys = sessions_views.ApiKeyViewSet.as_view({"get": "list", "post": "create"})
api_key = sessions_views.ApiKeyViewSet.as_view({"get": "retrieve", "delete": "destroy"})

urlpatterns = [
    re_path(r"^auth/token/?$", v.TokenView.as_view(), name="auth-token"),
    re_path(r"^auth/token/mfa/?$", v.TokenMfaView.as_view(), name="auth-token-mfa"),
    re_path(r"^auth/token/mfa/sms/?$", TokenMfaSmsView.as_view(), name="auth-token-mfa-sms"),
    re_path(r"^auth/token/password/?$", v.TokenPasswordView.as_view(), name="auth-token-password"),
    re_path(r"^auth/token/refresh/?$", v.TokenRefreshView.as_view(), name="auth-token-refresh"),
    re_path(r"^auth/logout/?$", v.LogoutView.as_view(), name="auth-logout"),
    re_path(r"^auth/status/?$", v.StatusView.as_view(), name="auth-status"),
    re_path(r"^auth/register/?$", v.RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/password/reset/?$", v.PasswordResetView.as_view(), name="auth-password-reset"),
    re_path(r"^users/me/sessions/?$", sessions_views.SessionListView.as_view(), name="me-sessions"),
    re_path(
        r"^users/me/sessions/revoke-others/?$",
        sessions_views.SessionRevokeOthersView.as_view(),
        name="me-sessions-revoke-others",
    ),
    re_path(
        r"^users/me/sessions/(?P<session_id>[^/]+)/?$",
        sessions_views.SessionDetailView.as_view(),
        name="me-session",
    ),
    re_path(r"^users/me/connected-apps/?$", ConnectedAppListView.as_view(), name="me-apps"),
    re_path(
        r"^users/me/connected-apps/(?P<client_id>[^/]+)/?$",
        ConnectedAppDetailView.as_view(),
        name="me-app",
    ),
    re_path(r"^users/me/api-keys/?$", api_keys, name="me-api-keys"),
    re_path(r"^users/me/api-keys/(?P<pk>[^/]+)/?$", api_key, name="me-api-key"),
]
