from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The admin console shell: the admin site and its dashboard, and the admin pages that
    show several apps at once. Installed last: it may import every app, and none imports it."""

    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import hooks
        from console.reports.lifecycle import reports_export_for_user, reports_forget_requester

        # The reports a person asked for are in their export; erasing them empties the
        # requester field (console.reports.lifecycle).
        hooks.register_export_section("reports", reports_export_for_user)
        hooks.register_erasure_step(reports_forget_requester)
