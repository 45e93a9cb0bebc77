"""The ``web`` process's application (Procfile): HTTP goes to Roster's WSGI application behind
an event loop that reads each request in full first, so slow clients hold no worker
(config.buffered_wsgi); WebSocket connections go to the application the
``WEBSOCKET_APPLICATION`` setting names by its dotted path (the notifications socket,
notifications.ws): config imports no app, so the setting says where it lives."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

from config.buffered_wsgi import BufferedWSGI  # noqa: E402
from config.wsgi import application as wsgi_application  # noqa: E402


class Router:
    """``websocket`` to ``websocket_application``; everything else (``http``, ``lifespan``)
    to ``http_application`` untouched. The worker finds the HTTP side's overrun watchdog
    through ``http_application`` (config.gunicorn_worker)."""

    def __init__(self, http_application: BufferedWSGI, websocket_application):
        self.http_application = http_application
        self.websocket_application = websocket_application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            return await self.websocket_application(scope, receive, send)
        return await self.http_application(scope, receive, send)


application = Router(BufferedWSGI(wsgi_application), import_string(settings.WEBSOCKET_APPLICATION))
