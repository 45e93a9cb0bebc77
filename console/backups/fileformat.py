"""The backup file: self-describing, checksummed, optionally encrypted.

Layout::

    ROSTER-BACKUP\\n
    {header as one line of JSON}\\n
    payload

The header says what the file is (``format``, ``version``, ``id``, ``kind``, ``base``, ``apps``,
``created_at``, ``vendor``, the per-table ``tables`` manifest) and how to read the payload
(``encrypted``, ``key_id``, ``sha256`` and ``size`` of the payload bytes as stored). The
payload is a gzip stream of JSON lines; encrypted, that stream is cut into frames of at most
``FRAME_SIZE`` bytes, each a Fernet token (authenticated, AES-128-CBC + HMAC-SHA256) preceded
by its length (4 bytes, big-endian), so neither writing nor reading holds the file in memory.

The checksum is checked before anything else is read, so a damaged or edited file is refused
whole; a wrong key is told apart from damage by ``key_id`` (the first 12 hex digits of the
SHA-256 of the key), never by trying to decrypt.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

MAGIC = b"ROSTER-BACKUP\n"
FORMAT = "roster-backup"
# 1: every section is JSON records (serialized rows). 2: a section may also be ``copy``
# (PostgreSQL's COPY text, see ``engine``). Files of both versions are read.
VERSION = 2
READABLE_VERSIONS = (1, 2)
FRAME_SIZE = 1 << 20
_CHUNK = 1 << 16


class BackupFileError(Exception):
    """The file is not a Roster backup this code can read, or it cannot be trusted."""

    code = "invalid_backup"

    def __init__(self, detail: str, code: str | None = None):
        super().__init__(detail)
        self.code = code or self.code


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _keys() -> list[str]:
    return list(settings.BACKUP_ENCRYPTION_KEYS)


def encryption_available() -> bool:
    return bool(_keys())


class _Encoder(DjangoJSONEncoder):
    """Django's encoder, but times keep their microseconds (it cuts them to milliseconds,
    which would change the rows, and the audit seals computed over them)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        if isinstance(o, bytes | memoryview):
            return base64.b64encode(bytes(o)).decode()
        return super().default(o)


class PayloadWriter:
    """Collects JSON lines into a gzip stream (encrypted in frames if asked) in a temp file."""

    def __init__(self, *, directory: Path, encrypt: bool):
        self.encrypt = encrypt
        if encrypt and not _keys():
            raise BackupFileError(
                "Encryption asked for, but BACKUP_ENCRYPTION_KEYS is empty.",
                "encryption_not_configured",
            )
        self.key_id = key_id(_keys()[0]) if encrypt else ""
        self._fernet = Fernet(_keys()[0].encode()) if encrypt else None
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=directory, prefix=".payload-")
        os.close(handle)
        self.path = Path(name)
        self._file = self.path.open("wb")
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._pending = bytearray()
        self._sha = hashlib.sha256()
        self.size = 0

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self._fernet is None:
            self._store(data)
            return
        self._pending += data
        while len(self._pending) >= FRAME_SIZE:
            self._frame(bytes(self._pending[:FRAME_SIZE]))
            del self._pending[:FRAME_SIZE]

    def _frame(self, plain: bytes) -> None:
        token = self._fernet.encrypt(plain)
        self._store(struct.pack(">I", len(token)) + token)

    def _store(self, data: bytes) -> None:
        self._sha.update(data)
        self.size += len(data)
        self._file.write(data)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, cls=_Encoder) + "\n"
        self.write_text(line)

    def write_text(self, text: str) -> None:
        self._emit(self._gzip.compress(text.encode()))

    def close(self) -> str:
        self._emit(self._gzip.flush())
        if self._fernet is not None and self._pending:
            self._frame(bytes(self._pending))
            self._pending.clear()
        self._file.close()
        return self._sha.hexdigest()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def finish(writer: PayloadWriter, *, header: dict[str, Any], destination: Path) -> dict[str, Any]:
    """Write the header and the payload into ``destination`` (atomically); return the header."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        **header,
        "encrypted": writer.encrypt,
        "key_id": writer.key_id or None,
        "compression": "gzip",
        "sha256": writer.close(),
        "size": writer.size,
    }
    tmp = destination.with_name(f".{destination.name}.tmp")
    with tmp.open("wb") as out, writer.path.open("rb") as payload:
        out.write(MAGIC)
        out.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
        while chunk := payload.read(_CHUNK):
            out.write(chunk)
    os.chmod(tmp, 0o600)
    tmp.replace(destination)
    writer.path.unlink(missing_ok=True)
    return header


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The header and the offset of the payload. Raises BackupFileError."""
    try:
        with path.open("rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                raise BackupFileError(f"{path.name} is not a Roster backup file.")
            line = handle.readline(1 << 24)
            offset = handle.tell()
    except OSError as exc:
        raise BackupFileError(f"Cannot read {path}: {exc.strerror}.", "unreadable") from exc
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise BackupFileError(f"{path.name}: the header is not valid JSON.") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupFileError(f"{path.name} is not a Roster backup file.")
    if header.get("version") not in READABLE_VERSIONS:
        raise BackupFileError(
            f"{path.name} is format version {header.get('version')}; this Roster reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}.",
            "unsupported_version",
        )
    return header, offset


def check(path: Path) -> dict[str, Any]:
    """The header, once the payload's SHA-256 and size match it and a key can read it."""
    header, offset = read_header(path)
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        handle.seek(offset)
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    if size != header.get("size") or sha.hexdigest() != header.get("sha256"):
        raise BackupFileError(
            f"{path.name} is damaged or was altered: its SHA-256 does not match its header.",
            "checksum_mismatch",
        )
    if header.get("encrypted"):
        known = {key_id(key): key for key in _keys()}
        if header.get("key_id") not in known:
            raise BackupFileError(
                f"{path.name} was encrypted with key {header.get('key_id')}, which is not in "
                "BACKUP_ENCRYPTION_KEYS.",
                "unknown_key",
            )
    return header


def _plain_chunks(handle: IO[bytes], header: dict[str, Any]) -> Iterator[bytes]:
    if not header.get("encrypted"):
        while chunk := handle.read(_CHUNK):
            yield chunk
        return
    fernet = MultiFernet([Fernet(key.encode()) for key in _keys()])
    while length_bytes := handle.read(4):
        (length,) = struct.unpack(">I", length_bytes)
        try:
            yield fernet.decrypt(handle.read(length))
        except InvalidToken as exc:
            raise BackupFileError(
                "The backup does not decrypt with the configured keys.", "wrong_key"
            ) from exc


def records(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The checked header and an iterator over the payload's JSON records."""
    header = check(path)
    _, offset = read_header(path)

    def iterate() -> Iterator[dict[str, Any]]:
        gunzip = zlib.decompressobj(31)
        rest = b""
        with path.open("rb") as handle:
            handle.seek(offset)
            for chunk in _plain_chunks(handle, header):
                rest += gunzip.decompress(chunk)
                *lines, rest = rest.split(b"\n")
                for line in lines:
                    yield json.loads(line)
        rest += gunzip.flush()
        if rest.strip():
            yield json.loads(rest)

    return header, iterate()
