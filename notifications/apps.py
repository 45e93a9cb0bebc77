from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the module imports models, which are not loaded at import time.
        from notifications import delivery, ws_hub

        # In every process (web, Celery, manage.py): notifications made there reach the
        # sockets of every web process through the channel layer when there is one.
        delivery.register(ws_hub.push_to_channel_layer)
