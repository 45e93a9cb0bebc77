from django.urls import include

from config.url_routing import routed

# The sign-in routes come first: /users/me/sessions and /users/me/api-keys must win over
# /users/{id}.
urlpatterns = [
    routed(include("accounts.api.urls_auth")),
    routed(include("accounts.api.urls_users")),
]
