from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules import models, which are not loaded at import time.
        from accounts import hooks
        from support.selectors import tickets_export_for_user
        from support.services import tickets_erase_for_user

        # A person's export holds the tickets they opened; erasing them deletes those.
        hooks.register_export_section("support_tickets", tickets_export_for_user)
        hooks.register_erasure_step(tickets_erase_for_user)
