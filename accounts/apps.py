from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Accounts' registrations: start-up checks, post-migrate data, the hooks of the lower
        apps (notifications, the WebSocket, metrics) and the signal receivers.

        Why one function of about 90 lines: it is a flat list of registrations, each with its
        comment, and nothing else; the receivers of one signal run in the order they are
        connected here, which one list keeps in sight. The imports are inside because most of the
        modules they name import models, which are not loaded when this module is."""
        from django.db.models.signals import post_migrate

        import config.checks  # noqa: F401  (registers the start-up checks)
        from accounts import roles

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="accounts.sync_roles")

        from accounts import notification_settings
        from notifications import delivery

        # Which kinds go by email is a typed setting per kind (accounts.notification_settings).
        post_migrate.connect(
            notification_settings.ensure_definitions,
            sender=self,
            dispatch_uid="accounts.notification_email_settings",
        )
        delivery.register_email_preference(notification_settings.wanting_email)

        from django.contrib.auth.signals import user_logged_in as logged_in
        from django.db.models.signals import post_save

        from accounts import hooks, notices
        from accounts.models import ApiSession
        from notifications.selectors import notifications_export_for_user
        from notifications.services import notifications_erase_for_user

        # A person's notifications are in their export and go with their erasure.
        hooks.register_export_section("notifications", notifications_export_for_user)
        hooks.register_erasure_step(notifications_erase_for_user)
        # The apps signed in to with Roster (OpenID Connect): clients, scopes, dates.
        from accounts.oidc_grants import oidc_grants_export

        hooks.register_export_section("oidc_grants", oidc_grants_export)
        # A sign-in from a device the account has not used is announced (accounts.notices).
        logged_in.connect(notices.on_user_logged_in, dispatch_uid="accounts.new_device_page")
        post_save.connect(
            notices.on_api_session_saved, sender=ApiSession, dispatch_uid="accounts.new_device_api"
        )

        from accounts import identity_cache

        # The identity snapshots of the Redis hot path follow every change of what they hold.
        identity_cache.connect_receivers()

        from accounts import ws as account_ws
        from notifications import ws_hooks

        # The notifications socket authenticates with the API's own checks.
        ws_hooks.register_authenticator(
            token=account_ws.authenticate_token, cookie=account_ws.authenticate_cookie
        )

        from accounts.metrics import account_gauges
        from config.metrics import register_source

        register_source(account_gauges)

        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from accounts.flows import limits, metrics

        # Sign-ins through the pages and the admin, counted for /metrics.
        user_logged_in.connect(metrics.on_user_logged_in, dispatch_uid="accounts.count_login")
        user_login_failed.connect(
            metrics.on_user_login_failed, dispatch_uid="accounts.count_login_failed"
        )

        from allauth.account import signals as account_signals
        from allauth.mfa import signals as mfa_signals

        from accounts import credentials

        # One rule for every door (accounts.credentials): a new password, a proven address
        # and an MFA change end what they must; the API and the admin call the same rule.
        for name in ("password_changed", "password_set", "password_reset"):
            getattr(account_signals, name).connect(
                credentials.on_password_changed,
                dispatch_uid=f"accounts.revoke_credentials_on_{name}",
            )
        # A completed password reset lifts the account's sign-in lockout, at every door.
        account_signals.password_reset.connect(
            limits.on_password_reset, dispatch_uid="accounts.clear_lockout_on_password_reset"
        )
        account_signals.email_confirmed.connect(
            credentials.on_email_confirmed, dispatch_uid="accounts.revoke_credentials_on_proof"
        )
        for name in ("authenticator_added", "authenticator_removed", "authenticator_reset"):
            getattr(mfa_signals, name).connect(
                credentials.on_authenticator_changed,
                dispatch_uid=f"accounts.revoke_sessions_on_{name}",
            )
