"""Routes of Roster's OpenID Connect provider (accounts.oidc_provider).

allauth's routes (``allauth.idp.urls``: ``/.well-known/openid-configuration``,
``/identity/o/authorize``, ``/identity/o/api/token``, ``…/userinfo``, ``…/revoke``,
``/identity/o/logout``) with three of its views replaced by Roster's subclasses under the
same paths, listed first. ``/.well-known/jwks.json`` is Roster's own JWKS
(``accounts.api.urls_wellknown``, routed before this module), which lists the same keys.
"""

from django.urls import include, path

from accounts import oidc_provider

urlpatterns = [
    path("identity/o/authorize", oidc_provider.authorize, name="oidc-authorize"),
    path("identity/o/api/token", oidc_provider.issue_token, name="oidc-token"),
    path("identity/o/logout", oidc_provider.end_session, name="oidc-logout"),
    path("", include("allauth.idp.urls")),
]
