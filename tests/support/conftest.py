import struct
import zlib

import pytest

from tests.factories import UserFactory


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


@pytest.fixture
def agent(db):
    return UserFactory(email="agent@example.com", roles=["support"])


@pytest.fixture
def requester(db):
    return UserFactory(email="requester@example.com", roles=["member"])


@pytest.fixture
def ticket(requester):
    from support.services import ticket_create

    return ticket_create(
        requester=requester,
        category="technical",
        priority="medium",
        subject="Cannot sign in",
        description="The page says my password is wrong.",
    )
