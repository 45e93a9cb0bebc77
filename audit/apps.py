from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from audit import receivers
        from audit.admin_mixins import audit_registered_admins
        from audit.metrics import sealing_gauges
        from config.metrics import register_source

        receivers.connect()
        register_source(sealing_gauges)
        # The admin autodiscovers every app's admin module in its own ready(), which runs
        # first (it is listed before us): every registered ModelAdmin is here now.
        audit_registered_admins(admin.site)
