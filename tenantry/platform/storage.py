"""Object storage: a local directory by default, S3 (boto3) in production.

Keys are slash-separated paths such as `tenants/<id>/exports/<id>.zip`. Callers encrypt
tenant files under the tenant's key before they reach storage.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app

from tenantry.platform import aws


class StorageError(RuntimeError):
    pass


class StorageUnavailable(StorageError):
    """The storage service did not answer (or failed on its side): nothing is lost, try later.
    The web answers a 503 (platform/web.py), never a 500."""


def check_key(key: str) -> str:
    # Split by hand: PurePosixPath would quietly drop the empty and "." parts of "a//b" or "./x",
    # so one key would name different objects on disk and in S3.
    parts = key.split("/")
    if not key or any(p in ("..", ".", "") for p in parts) or "\\" in key or "\0" in key:
        raise StorageError(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    def put(self, key: str, data: bytes | BinaryIO) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def get(self, key: str) -> bytes: ...
    def head(self, key: str, size: int) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def delete_prefix(self, prefix: str) -> int: ...


class LocalStorage:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(data, bytes | bytearray):
                    fh.write(data)
                else:
                    shutil.copyfileobj(data, fh, 1024 * 1024)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError as exc:
            raise StorageError(f"no object {key!r}") from exc

    def get(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def head(self, key: str, size: int) -> bytes:
        """The object's first `size` bytes (fewer if it is shorter)."""
        with self.open(key) as fh:
            return fh.read(size)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith(".part"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for key in keys:
            self.delete(key)
        return len(keys)


class S3Storage:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None,
                 client=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or aws.client("s3", read_timeout=60, endpoint_url=endpoint_url or None,
                                           region_name=region or None)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        from io import BytesIO

        body = BytesIO(data) if isinstance(data, bytes | bytearray) else data
        with _answering(key):
            self.client.upload_fileobj(body, self.bucket, self._key(key))

    def open(self, key: str) -> BinaryIO:
        with _answering(key):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            except self.client.exceptions.NoSuchKey as exc:
                raise StorageError(f"no object {key!r}") from exc

    def get(self, key: str) -> bytes:
        with _answering(key):
            return self.open(key).read()

    def head(self, key: str, size: int) -> bytes:
        """The object's first `size` bytes, by a ranged GET: a file's header without its body."""
        from botocore.exceptions import ClientError

        with _answering(key):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes=0-{size - 1}")
            except self.client.exceptions.NoSuchKey as exc:
                raise StorageError(f"no object {key!r}") from exc
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # an empty object
                    return b""
                raise
            return answer["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with _answering(key):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
                return True
            except ClientError as exc:
                if aws.is_outage(exc):
                    raise
                return False

    def delete(self, key: str) -> None:
        with _answering(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _answering(prefix or "/"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix):]

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            with _answering(prefix or "/"):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": self._key(k)} for k in chunk], "Quiet": True}
                )
        return len(keys)


@contextmanager
def _answering(key: str) -> Iterator[None]:
    """S3 unreachable, or failing on its side (aws.is_outage): StorageUnavailable."""
    try:
        yield
    except Exception as exc:
        if aws.is_outage(exc):
            raise StorageUnavailable(f"object storage did not answer for {key!r}: {exc}") from exc
        raise


def from_settings(settings) -> Storage:
    if settings.storage == "s3":
        return S3Storage(settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url, settings.aws_region)
    return LocalStorage(settings.storage_dir)


def storage() -> Storage:
    return current_app.extensions["tenantry.storage"]
