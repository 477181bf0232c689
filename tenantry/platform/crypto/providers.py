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

from tenantry.platform import aws

_LOCAL_FORMAT = b"TKW1"  # tenantry local wrap, format 1


class KeyProviderError(RuntimeError):
    pass


class KeyProviderUnavailable(KeyProviderError):
    """The key service did not answer, or failed on its side: nothing was said about the key.
    The web answers a 503 (platform/web.py), never a 500."""


def _kms_failure(exc: Exception, message: str) -> KeyProviderError:
    """A refusal of KMS's (KeyProviderError), or its outage (KeyProviderUnavailable)."""
    if aws.is_outage(exc):
        return KeyProviderUnavailable(f"KMS did not answer: {exc}")
    return KeyProviderError(message)


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
    """Each tenant's keys are wrapped under a KMS key of its own (alias
    alias/tenantry/tenant-<id>, made on the tenant's first key), so that crypto-shredding can
    disable that KMS key and schedule its deletion: copies of the wrapped keys left in database
    snapshots then open nowhere [DPA-4.10]. Platform keys (no tenant in the context) are
    wrapped under the configured key. A tenant key wrapped under the configured key by an
    earlier build still opens (Decrypt reads the key from the ciphertext; the encryption context
    is what binds it to its tenant) and moves to the tenant's own key at the next rewrap."""

    name = "aws-kms"
    ALIAS_PREFIX = "alias/tenantry/tenant-"
    DELETION_WINDOW_DAYS = 7  # KMS's shortest waiting period

    def __init__(self, key_id: str, region: str | None = None, client=None):
        self.key_id = key_id
        self.client = client or aws.client("kms", read_timeout=30, region_name=region or None)

    def _alias(self, context: dict[str, str]) -> str | None:
        tenant = context.get("tenant")
        return f"{self.ALIAS_PREFIX}{tenant}" if tenant else None

    def _tenant_key(self, alias: str) -> str:
        """The tenant's KMS key id, made (with its alias) when it has none yet."""
        try:
            return self.client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        except self.client.exceptions.NotFoundException:
            pass
        key_id = self.client.create_key(
            Description=f"Tenantry data keys of tenant {alias[len(self.ALIAS_PREFIX):]}",
            KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        try:
            self.client.create_alias(AliasName=alias, TargetKeyId=key_id)
        except self.client.exceptions.AlreadyExistsException:
            # Another process made the tenant's key first: use its key, drop ours.
            self.client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=self.DELETION_WINDOW_DAYS)
            return self.client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        return key_id

    def wrap(self, data_key: bytes, context: dict[str, str]) -> bytes:
        alias = self._alias(context)
        try:
            key_id = self._tenant_key(alias) if alias else self.key_id
            out = self.client.encrypt(KeyId=key_id, Plaintext=data_key, EncryptionContext=context)
        except KeyProviderError:
            raise
        except Exception as exc:
            raise _kms_failure(exc, f"KMS refused to wrap the key: {exc}") from exc
        return out["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        extra = {} if self._alias(context) else {"KeyId": self.key_id}
        try:
            out = self.client.decrypt(CiphertextBlob=wrapped, EncryptionContext=context, **extra)
        except Exception as exc:
            raise _kms_failure(exc, "KMS refused to unwrap the key") from exc
        return out["Plaintext"]

    def is_current(self, wrapped: bytes, context: dict[str, str]) -> bool:
        """Whether `wrapped` is already under the key this provider would wrap it with now (the
        tenant's own key, or the configured one for platform keys): what a rewrap may skip."""
        alias = self._alias(context)
        try:
            expected = self.client.describe_key(KeyId=alias or self.key_id)["KeyMetadata"]["Arn"]
            used = self.client.decrypt(CiphertextBlob=wrapped, EncryptionContext=context)["KeyId"]
        except Exception:
            return False
        return used == expected

    def destroy(self, context: dict[str, str]) -> None:
        """Disable the tenant's KMS key and schedule its deletion; the alias goes at once.
        Called for each key version of the tenant: the second and later calls find no alias."""
        alias = self._alias(context)
        if alias is None:
            return
        try:
            key_id = self.client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        except self.client.exceptions.NotFoundException:
            return
        self.client.disable_key(KeyId=key_id)
        self.client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=self.DELETION_WINDOW_DAYS)
        self.client.delete_alias(AliasName=alias)


def from_settings(settings) -> KeyProvider:
    if settings.key_provider == "aws-kms":
        return KmsKeyProvider(settings.kms_key_id, settings.aws_region)
    return LocalKeyProvider(settings.master_key_file)
