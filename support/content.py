"""What an attachment is, read from its bytes, never from its name or the type the client
sent: PNG, JPEG, PDF or plain text (UTF-8). The name's extension must agree with the bytes,
so a page or an SVG picture named ``.png`` is refused (415 ``unsupported_type``).

Roster never opens an attachment past these checks (no image decoding, no PDF parsing, no
decompression), so a file made to explode when unpacked costs nothing but its stored size.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from config.errors import DomainError, Invalid

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS_PER_TICKET = 5

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
PDF_HEADER = b"%PDF-"
PDF_TRAILER = b"%%EOF"

# The extensions each type may be named with; a name without an extension takes the type's
# first one.
EXTENSIONS = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".log", ".text", ".csv", ".md"),
}
# Text a browser or viewer would take for markup, whatever it is named.
_MARKUP = re.compile(rb"^\s*<(?:!doctype|html|head|body|script|svg|\?xml|iframe|object)\b", re.I)


class AttachmentTooLarge(DomainError):
    status_code = 413
    default_code = "file_too_large"
    default_detail = f"An attachment is at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB."


class UnsupportedType(DomainError):
    status_code = 415
    default_code = "unsupported_type"
    default_detail = "Attach a PNG or JPEG image, a PDF document or a plain UTF-8 text file."


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str


def sniff(data: bytes) -> str | None:
    """The content type ``data`` is, by its bytes; None when it is none of ours."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        return "image/png"
    if data.startswith(JPEG_SIGNATURE):
        return "image/jpeg"
    if data.startswith(PDF_HEADER):
        # A PDF ends with its trailer marker, perhaps followed by a line break.
        return "application/pdf" if data.rstrip(b"\r\n\t ").endswith(PDF_TRAILER) else None
    if _is_plain_text(data):
        return "text/plain"
    return None


def _is_plain_text(data: bytes) -> bool:
    if not data or b"\x00" in data or _MARKUP.match(data.removeprefix(b"\xef\xbb\xbf")):
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    # Line breaks, tabs and form feeds are text; other control characters are a binary file.
    return not any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f" for ch in text[:65536])


def clean_filename(name: str, content_type: str) -> str:
    """The last path part of ``name``, without control characters, at most 200 characters,
    with an extension that agrees with ``content_type`` (given one when it has none)."""
    base = PurePosixPath(str(name).replace("\\", "/")).name
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    allowed = EXTENSIONS[content_type]
    suffix = PurePosixPath(base).suffix.lower()
    if not base:
        base = "attachment"
    if not suffix:
        base += allowed[0]
    elif suffix not in allowed:
        raise UnsupportedType(
            detail=f"The file's content is {content_type}, which its name ({suffix}) does not say.",
            attr="file",
        )
    if len(base) > 200:
        stem, ext = base[: -len(PurePosixPath(base).suffix)], PurePosixPath(base).suffix
        base = stem[: 200 - len(ext)] + ext
    return base


def check_attachment(*, name: str, data: bytes) -> CheckedFile:
    """Raise ``AttachmentTooLarge`` or ``UnsupportedType``, or say what the file is."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(attr="file")
    if not data:
        raise Invalid("empty", "The file is empty.", attr="file")
    content_type = sniff(data)
    if content_type is None:
        raise UnsupportedType(attr="file")
    return CheckedFile(filename=clean_filename(name, content_type), content_type=content_type)
