"""The one way an attachment leaves Roster: the API, the pages and the admin console call
``attachment_response`` after their own permission check (``support.selectors``)."""

from __future__ import annotations

from django.http import FileResponse, Http404

from support.models import Attachment


def attachment_response(row: Attachment) -> FileResponse:
    """As a download, typed by its checked content, never rendered by the browser. A file
    gone from the disk is 404, never a 500."""
    try:
        handle = row.file.open("rb")
    except OSError:
        raise Http404("The file is no longer stored.") from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=row.filename,
        content_type=row.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    response["ETag"] = f'"{row.sha256}"'
    return response
