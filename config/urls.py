from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config import api_docs, views
from config.metrics import metrics_view
from config.url_routing import routed

api_v1 = [
    routed(include("accounts.api.urls")),
    routed(include("orgs.api.urls")),
    routed(include("access.api.urls")),
    routed(include("access.policies.api.urls")),
    routed(include("slots.api.urls")),
    routed(include("usage.api.urls")),
    routed(include("audit.api.urls")),
    routed(include("console.backups.api.urls")),
    routed(include("console.reports.api.urls")),
    routed(include("notifications.api.urls")),
    routed(include("support.api.urls")),
]

handler500 = views.server_error

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/ready", views.ready, name="health-ready"),
    path("api/v1/", include(api_v1)),
    path(".well-known/", include("accounts.api.urls_wellknown")),
    routed(include("accounts.oidc_provider_urls")),  # OIDC provider (after the JWKS)
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs.swagger_ui, name="swagger-ui"),
    path("api/redoc/", api_docs.redoc, name="redoc"),
    routed(include("accounts.urls")),
    routed(include("slots.urls")),
    routed(include("usage.urls")),
    routed(include("orgs.urls")),
    routed(include("orgs.saml.urls")),
    routed(include("console.reports.urls")),
    routed(include("access.urls")),
    routed(include("notifications.urls")),
    routed(include("support.urls")),
    path("accounts/2fa/sms/", include("accounts.sms.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
]
