from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config import api_docs, views
from config.metrics import metrics_view

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("orgs.api.urls")),
    path("", include("access.api.urls")),
    path("", include("access.policies.api.urls")),
    path("", include("slots.api.urls")),
    path("", include("usage.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("console.backups.api.urls")),
    path("", include("console.reports.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("support.api.urls")),
]

handler500 = views.server_error

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/ready", views.ready, name="health-ready"),
    path("api/v1/", include(api_v1)),
    path(".well-known/", include("accounts.api.urls_wellknown")),
    path("", include("accounts.oidc_provider_urls")),  # OIDC provider (after the JWKS)
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs.swagger_ui, name="swagger-ui"),
    path("api/redoc/", api_docs.redoc, name="redoc"),
    path("", include("accounts.urls")),
    path("", include("slots.urls")),
    path("", include("usage.urls")),
    path("", include("orgs.urls")),
    path("", include("orgs.saml.urls")),
    path("", include("console.reports.urls")),
    path("", include("access.urls")),
    path("", include("notifications.urls")),
    path("", include("support.urls")),
    path("accounts/2fa/sms/", include("accounts.sms.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
]
