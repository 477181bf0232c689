"""Platform secrets (TOTP secrets, notice bodies) sealed with AES-256-GCM under a platform data key.

The data key is stored only wrapped by the key provider; unwrapped copies are cached in
process memory for a limited time. Associated data binds each ciphertext to its purpose
and owner, so a sealed value copied elsewhere does not open.
"""

from __future__ import annotations

import secrets
import struct
import threading
import time
from datetime import datetime

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform import clock
from tenantry.platform.db import db

_FORMAT = 1
_HEADER = struct.Struct(">BI12s")  # format, key version, nonce
_CACHE_SECONDS = 300


class SealError(RuntimeError):
    pass


class PlatformKey(db.Model):
    __tablename__ = "platform_keys"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(sa.LargeBinary)
    provider: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


_cache: dict[tuple[str, int], tuple[float, bytes]] = {}
_lock = threading.Lock()


def provider():
    return current_app.extensions["tenantry.key_provider"]


def _context(name: str, version: int) -> dict[str, str]:
    return {"platform-key": name, "version": str(version)}


def _unwrap(row: PlatformKey) -> bytes:
    key = (row.name, row.version)
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
    plain = provider().unwrap(row.wrapped, _context(row.name, row.version))
    with _lock:
        _cache[key] = (time.monotonic() + _CACHE_SECONDS, plain)
    return plain


def _active_key(name: str) -> tuple[int, bytes]:
    row = db.session.execute(
        sa.select(PlatformKey).where(PlatformKey.name == name).order_by(PlatformKey.version.desc()).limit(1)
    ).scalar_one_or_none()
    if row is None:
        plain = secrets.token_bytes(32)
        row = PlatformKey(name=name, version=1, provider=provider().name, wrapped=provider().wrap(plain, _context(name, 1)))
        db.session.add(row)
        db.session.flush()
        # The new key replaces whatever the cache holds for (name, 1): a key created by a
        # transaction that rolled back never reached the database and must not be used again.
        with _lock:
            _cache[(name, row.version)] = (time.monotonic() + _CACHE_SECONDS, plain)
        return row.version, plain
    return row.version, _unwrap(row)


def _key_version(name: str, version: int) -> bytes:
    row = db.session.get(PlatformKey, (name, version))
    if row is None:
        raise SealError(f"platform key {name} v{version} is gone")
    return _unwrap(row)


def seal(plaintext: str | bytes, purpose: str, *, key_name: str = "seal") -> bytes:
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    version, key = _active_key(key_name)
    nonce = secrets.token_bytes(12)
    header = _HEADER.pack(_FORMAT, version, nonce)
    return header + AESGCM(key).encrypt(nonce, data, header + purpose.encode())


def unseal(blob: bytes, purpose: str, *, key_name: str = "seal") -> bytes:
    if not blob or len(blob) < _HEADER.size + 16:
        raise SealError("sealed value is truncated")
    fmt, version, nonce = _HEADER.unpack(blob[: _HEADER.size])
    if fmt != _FORMAT:
        raise SealError(f"unknown sealed format {fmt}")
    key = _key_version(key_name, version)
    try:
        return AESGCM(key).decrypt(nonce, blob[_HEADER.size :], blob[: _HEADER.size] + purpose.encode())
    except InvalidTag as exc:
        raise SealError(f"sealed value does not open for {purpose!r}: altered or moved") from exc


def unseal_text(blob: bytes, purpose: str) -> str:
    return unseal(blob, purpose).decode()


def forget_cached_keys() -> None:
    with _lock:
        _cache.clear()
