"""The ``web`` process's application (Procfile): Roster's WSGI application behind an event
loop that reads each request in full first, so slow clients hold no worker
(config.buffered_wsgi)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.buffered_wsgi import BufferedWSGI  # noqa: E402
from config.wsgi import application as wsgi_application  # noqa: E402

application = BufferedWSGI(wsgi_application)
