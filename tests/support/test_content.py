"""What an attachment is, judged by its bytes."""

import pytest

from config.errors import Invalid
from support.content import (
    MAX_ATTACHMENT_BYTES,
    AttachmentTooLarge,
    UnsupportedType,
    check_attachment,
    clean_filename,
)
from tests.support.conftest import HTML, JPEG, PDF, SVG, png_bytes


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("screen.png", png_bytes(), "image/png"),
        ("photo.JPG", JPEG, "image/jpeg"),
        ("photo.jpeg", JPEG, "image/jpeg"),
        ("invoice.pdf", PDF, "application/pdf"),
        ("notes.txt", "Grüße, no NUL here\n".encode(), "text/plain"),
        ("server.log", b"line 1\r\nline 2\t\n", "text/plain"),
    ],
)
def test_check_attachment_accepts_each_type_by_content(name, data, content_type):
    assert check_attachment(name=name, data=data).content_type == content_type


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("screenshot.png", HTML),  # a page named as a picture
        ("screenshot.png", SVG),  # an SVG picture (script inside) named as a PNG
        ("notes.txt", HTML),  # markup is not plain text, whatever it is called
        ("drawing.svg", SVG),
        ("doc.pdf", b"%PDF-1.7\n... no trailer"),  # a PDF must end with %%EOF
        ("doc.pdf", b"PK\x03\x04zipped"),
        ("notes.txt", b"text with a \x00 NUL"),
        ("notes.txt", b"\xff\xfe not UTF-8 \xc3"),
        ("program.exe", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("screen.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 4 + b"XXXX"),  # no IHDR
    ],
)
def test_check_attachment_refuses_disguised_or_unknown_files(name, data):
    with pytest.raises(UnsupportedType) as caught:
        check_attachment(name=name, data=data)
    assert caught.value.code == "unsupported_type"
    assert caught.value.status_code == 415


def test_check_attachment_refuses_a_real_type_under_another_types_name():
    with pytest.raises(UnsupportedType):
        check_attachment(name="picture.png", data=PDF)


def test_check_attachment_refuses_over_5_mb_and_empty():
    with pytest.raises(AttachmentTooLarge) as caught:
        check_attachment(name="big.txt", data=b"a" * (MAX_ATTACHMENT_BYTES + 1))
    assert caught.value.status_code == 413
    assert check_attachment(name="edge.txt", data=b"a" * MAX_ATTACHMENT_BYTES)
    with pytest.raises(Invalid):
        check_attachment(name="empty.txt", data=b"")


def test_clean_filename_keeps_only_the_last_part_and_gives_an_extension():
    assert clean_filename("../../etc/passwd", "text/plain") == "passwd.txt"
    assert clean_filename("C:\\Users\\me\\shot.png", "image/png") == "shot.png"
    assert clean_filename("bad\r\nname.pdf", "application/pdf") == "badname.pdf"
    assert clean_filename("", "image/png") == "attachment.png"
    assert len(clean_filename("a" * 300 + ".png", "image/png")) == 200
