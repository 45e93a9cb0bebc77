"""The usage page under /account/usage/ (the API is in usage/api/)."""

from django.urls import path

from usage import views

urlpatterns = [
    path("account/usage/", views.usage_overview, name="usage-overview"),
]
