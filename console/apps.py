from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The admin console shell: the admin site and its dashboard, and the admin pages that
    show several apps at once. Installed last: it may import every app, and none imports it."""

    name = "console"
    default_auto_field = "django.db.models.BigAutoField"
