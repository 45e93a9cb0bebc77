import os

from django.core.wsgi import get_wsgi_application

from config.request_body import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Chunked bodies are read (bounded) before Django, which sizes a body by Content-Length only.
application = ChunkedBodyMiddleware(get_wsgi_application())
