"""Connects SAML per organization to accounts and allauth; called from ``OrgsConfig.ready``."""

from __future__ import annotations


def connect() -> None:
    from allauth.socialaccount import signals as social_signals
    from django.contrib.auth.signals import user_logged_in

    from accounts import hooks
    from orgs.saml.provider import saml_apps
    from orgs.saml.signin import guard_sign_in, join_after_sign_in

    # allauth finds each organization's SAML app through the social adapter's list_apps.
    hooks.register_social_apps(saml_apps)
    social_signals.pre_social_login.connect(guard_sign_in, dispatch_uid="orgs.saml.guard")
    user_logged_in.connect(join_after_sign_in, dispatch_uid="orgs.saml.join")
