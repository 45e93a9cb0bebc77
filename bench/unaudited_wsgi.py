"""Roster with the audit write taken out: the baseline of the audit benchmark, never served.

The same application as ``config.wsgi`` except that ``audit.services.record`` returns at
once. Its code object is swapped rather than the name rebound, so every module that did
``from audit.services import record`` gets the no-op too. ``bench/scenarios/audit.py`` runs
the same audited endpoint against this server and the real one in one run; the difference
is what a request pays for its audit event.
"""

from config.wsgi import application  # sets Django up before the audit app is imported


def _no_audit_write(**kwargs):
    return None


def _take_out_the_audit_write() -> None:
    import audit.services

    audit.services.record.__code__ = _no_audit_write.__code__
    audit.services.record.__kwdefaults__ = None


_take_out_the_audit_write()

# The same, served like the Procfile's web line (config/asgi.py).
from config.buffered_wsgi import BufferedWSGI  # noqa: E402

asgi_application = BufferedWSGI(application)
__all__ = ["application", "asgi_application"]
