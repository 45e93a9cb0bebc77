from django.urls import include, path

# The sign-in routes come first: /users/me/sessions and /users/me/api-keys must win over
# /users/{id}.
urlpatterns = [
    path("", include("accounts.api.urls_auth")),
    path("", include("accounts.api.urls_users")),
]
