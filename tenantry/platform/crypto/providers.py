"""Key providers hold the key-encryption key and wrap or unwrap data keys.

`local`: a 256-bit master key in a file outside the database, mode 0600, created on first run.
`aws-kms`: AWS KMS through boto3, with an encryption context naming what the key is for.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_LOCAL_FORMAT = b"TKW1"  # tenantry local wrap, format 1


class KeyProviderError(RuntimeError):
    pass


class KeyProvider(Protocol):
    name: str

    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes: ...

    def destroy(self, context: dict[str, str]) -> None: ...


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


class LocalKeyProvider:
    name = "local"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._key = self._load_or_create()

    def _load_or_create(self) -> bytes:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first
                return self._load_or_create()
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise KeyProviderError(f"{self.path} is readable by others (mode {mode:o}); chmod 600 it")
        key = self.path.read_bytes()
        if len(key) != 32:
            raise KeyProviderError(f"{self.path} must hold exactly 32 bytes")
        return key

    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes:
        nonce = secrets.token_bytes(12)
        return _LOCAL_FORMAT + nonce + AESGCM(self._key).encrypt(nonce, data_key, _aad(context))

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        if not wrapped.startswith(_LOCAL_FORMAT):
            raise KeyProviderError("not a key wrapped by the local provider")
        nonce, body = wrapped[4:16], wrapped[16:]
        try:
            return AESGCM(self._key).decrypt(nonce, body, _aad(context))
        except Exception as exc:
            raise KeyProviderError("wrapped key does not open under this master key and context") from exc

    def destroy(self, context: dict[str, str]) -> None:
        # The master key is shared; a tenant's keys are destroyed by deleting its wrapped keys.
        return None


class KmsKeyProvider:
    name = "aws-kms"

    def __init__(self, key_id: str, region: str | None = None, client=None):
        import boto3

        self.key_id = key_id
        self.client = client or boto3.client("kms", region_name=region or None)

    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes:
        out = self.client.encrypt(KeyId=self.key_id, Plaintext=data_key, EncryptionContext=context)
        return out["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        try:
            out = self.client.decrypt(CiphertextBlob=wrapped, EncryptionContext=context, KeyId=self.key_id)
        except Exception as exc:
            raise KeyProviderError("KMS refused to unwrap the key") from exc
        return out["Plaintext"]

    def destroy(self, context: dict[str, str]) -> None:
        # Per-tenant KMS keys are disabled and scheduled for deletion by the lifecycle purge.
        return None


def from_settings(settings) -> KeyProvider:
    if settings.key_provider == "aws-kms":
        return KmsKeyProvider(settings.kms_key_id, settings.aws_region)
    return LocalKeyProvider(settings.master_key_file)
