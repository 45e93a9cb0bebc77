from django.apps import AppConfig
from django.db.backends.signals import connection_created


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import hooks
        from config.metrics import register_source
        from usage.metrics import usage_gauges
        from usage.selectors import usage_export_for_user
        from usage.sql.sqlite import register_functions

        connection_created.connect(register_functions, dispatch_uid="usage.sqlite")
        # A person's export holds their usage (the events stay, under the erased pseudonym).
        hooks.register_export_section("usage", usage_export_for_user)
        register_source(usage_gauges)
