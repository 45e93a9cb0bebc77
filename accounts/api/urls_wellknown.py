"""/.well-known/ documents of the sign-in door."""

from django.urls import path

from accounts.api.auth_views import JwksView

urlpatterns = [path("jwks.json", JwksView.as_view(), name="jwks")]
