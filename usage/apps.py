from django.apps import AppConfig
from django.db.backends.signals import connection_created


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from usage.sqlite import register_functions

        connection_created.connect(register_functions, dispatch_uid="usage.sqlite")
