from django.apps import AppConfig


class SlotsConfig(AppConfig):
    name = "slots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: these modules import models, which are not loaded at import time.
        from accounts import hooks
        from config.metrics import register_source
        from slots.metrics import slot_gauges
        from slots.selectors import slots_export_for_user
        from slots.services import slots_release_owned

        register_source(slot_gauges)
        # A person's export holds their slots; erasing a person releases them.
        hooks.register_export_section("slots", slots_export_for_user)
        hooks.register_erasure_step(slots_release_owned)
