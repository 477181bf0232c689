"""boto3 clients (S3 for storage, KMS for keys) with one policy for an AWS that does not answer.

botocore's defaults wait 60 s to connect and retry with back-off, so an outage held a request
for minutes before failing. These clients give up in seconds, and is_outage() tells such a
failure (nothing was decided: try later, a 503) from a refusal (the answer itself)."""

from __future__ import annotations

from typing import Any


def client(service: str, *, read_timeout: int, **kwargs: Any):
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(connect_timeout=5, read_timeout=read_timeout,
                                               retries={"mode": "standard", "max_attempts": 3}), **kwargs)


def is_outage(exc: BaseException) -> bool:
    """No answer (connection, timeout), or a failure on AWS's side (5xx) after the retries."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, BotoCoreError | S3UploadFailedError):
        return True
    return isinstance(exc, ClientError) and exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
