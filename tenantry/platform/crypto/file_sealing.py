"""Files of a tenant (exports, backups) sealed under its data key in chunks, as a stream.

A sealed file is a header (magic, format, key version, chunk size) followed by chunks, each
`nonce || last flag || length || AES-256-GCM(chunk)`. The associated data of every chunk binds the header,
what the file is for (its storage key), the chunk's index and whether it is the last one: a
chunk moved, dropped, repeated or reordered fails to open, and a file cut after any chunk
fails because no chunk marked last was seen. Memory stays at one chunk either way.

Destroying the tenant's keys (crypto-shredding) leaves every copy of its files unreadable.
"""

from __future__ import annotations

import io
import secrets
import struct
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantry.platform.crypto import keyring

MAGIC = b"TNTYSEAL"
FORMAT = 1
CHUNK = 1024 * 1024
_HEADER = struct.Struct(">8sBII")  # magic, format, key version, chunk size
HEADER_SIZE = _HEADER.size
_CHUNK_HEAD = struct.Struct(">12sBI")  # nonce, last-chunk flag, ciphertext length
_TAG = 16


class FileSealError(RuntimeError):
    """A sealed file does not open: altered, cut short, moved, or its key is gone."""


def _aad(header: bytes, tenant_id: uuid.UUID, purpose: str, index: int, final: bool) -> bytes:
    return header + str(tenant_id).encode() + b"\0" + purpose.encode() + struct.pack(">QB", index, final)


class SealingReader(io.RawIOBase):
    """A readable stream of the sealed form of `source`, for storage.put: nothing is held
    beyond one plaintext chunk read ahead (to know which chunk is the last)."""

    def __init__(self, source: BinaryIO, *, tenant_id: uuid.UUID, purpose: str, chunk_size: int = CHUNK):
        super().__init__()
        version, key = keyring.active_data_key(tenant_id)
        self._aes = AESGCM(key)
        self._source, self._tenant_id, self._purpose, self._chunk = source, tenant_id, purpose, chunk_size
        self._header = _HEADER.pack(MAGIC, FORMAT, version, chunk_size)
        self._out = bytearray(self._header)
        self._next = self._read_chunk()
        self._index = 0
        self._done = False

    def _read_chunk(self) -> bytes:
        parts, wanted = [], self._chunk
        while wanted:
            part = self._source.read(wanted)
            if not part:
                break
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)

    def _fill(self) -> None:
        current = self._next
        self._next = self._read_chunk()
        final = not self._next
        nonce = secrets.token_bytes(12)
        sealed = self._aes.encrypt(nonce, current, _aad(self._header, self._tenant_id, self._purpose, self._index, final))
        self._out += _CHUNK_HEAD.pack(nonce, final, len(sealed)) + sealed
        self._index += 1
        self._done = final

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out and not self._done:
            self._fill()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        del self._out[:n]
        return n


def seal_stream(source: BinaryIO, *, tenant_id: uuid.UUID, purpose: str) -> io.BufferedReader:
    return io.BufferedReader(SealingReader(source, tenant_id=tenant_id, purpose=purpose), CHUNK)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts, wanted = [], n
    while wanted:
        part = stream.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def key_version(sealed: BinaryIO) -> int | None:
    """The data key version a sealed file was written with, read from its header (the first
    bytes only); None for anything that is not a sealed file."""
    header = _read_exact(sealed, _HEADER.size)
    if len(header) < _HEADER.size:
        return None
    magic, fmt, version, _chunk = _HEADER.unpack(header)
    return version if magic == MAGIC and fmt == FORMAT else None


def open_stream(sealed: BinaryIO, *, tenant_id: uuid.UUID, purpose: str) -> Iterator[bytes]:
    """The plaintext, chunk by chunk. Raises FileSealError at the first chunk that does not
    open, or at the end when the file stops before its last chunk."""
    header = _read_exact(sealed, _HEADER.size)
    if len(header) < _HEADER.size:
        raise FileSealError("not a sealed file: the header is cut short")
    magic, fmt, version, chunk_size = _HEADER.unpack(header)
    if magic != MAGIC or fmt != FORMAT:
        raise FileSealError("not a sealed file of a known format")
    try:
        aes = AESGCM(keyring.data_key(tenant_id, version))
    except keyring.KeyringError as exc:
        raise FileSealError(f"the key of this file is not available: {exc}") from exc
    index, final = 0, False
    while True:
        head = _read_exact(sealed, _CHUNK_HEAD.size)
        if not head:
            break
        if final:
            raise FileSealError("data follows the last chunk")
        if len(head) < _CHUNK_HEAD.size:
            raise FileSealError(f"chunk {index} is cut short")
        nonce, last, length = _CHUNK_HEAD.unpack(head)
        if length > chunk_size + _TAG:
            raise FileSealError(f"chunk {index} is larger than the file's chunk size")
        body = _read_exact(sealed, length)
        if len(body) < length:
            raise FileSealError(f"chunk {index} is cut short")
        try:
            # The flag is authenticated: a chunk falsely marked last (to hide a cut) fails here.
            plain = aes.decrypt(nonce, body, _aad(header, tenant_id, purpose, index, bool(last)))
        except InvalidTag as exc:
            raise FileSealError(f"chunk {index} does not open here: altered, reordered or moved") from exc
        final = bool(last)
        index += 1
        yield plain
    if not final:
        raise FileSealError("the file ends before its last chunk: it was cut short")
