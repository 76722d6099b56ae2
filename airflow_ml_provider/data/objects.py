"""What :class:`airflow_ml_provider.data.S3` returns and raises, and how S3's errors map to them.

Kept apart from the client so the values (objects, put requests, URLs) and the error contract
(``S3NotFound`` is a ``FileNotFoundError``, ``S3AccessDenied`` a ``PermissionError``, ...) read in one
place, free of transfer mechanics.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from airflow_ml_provider.datastore.s3_io import error_kind
from airflow_ml_provider.errors import MLProviderError

T = TypeVar("T")


class S3Error(MLProviderError, RuntimeError):
    """An S3 failure with the URL it concerns."""


class S3NotFound(S3Error, FileNotFoundError):
    """The object (or bucket) does not exist."""


class S3AccessDenied(S3Error, PermissionError):
    """Credentials were refused for this URL."""


class S3URLError(S3Error, ValueError):
    """A key that cannot be turned into a URL with this client's root."""


class S3PutObject(NamedTuple):
    """One object for ``put_many`` (``value``) or ``put_files`` (``path``), as in Metaflow."""

    key: str
    value: bytes | str | None = None
    path: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] | None = None


class S3Object:
    """An object or prefix in S3, with an optional local copy (``path``) while the client is open."""

    def __init__(
        self, url: str, key: str, *, prefix: str | None = None, path: str | None = None, size: int | None = None,
        exists: bool = True, content_type: str | None = None, metadata: dict[str, str] | None = None,
        last_modified: int | None = None, etag: str | None = None, owner: Any = None,
    ) -> None:  # fmt: skip
        self.url, self.key, self.prefix, self.path = url, key, prefix, path
        self.size, self.exists = size, exists
        self.content_type, self.metadata = content_type, metadata
        self.last_modified, self.etag = last_modified, etag
        self._owner = owner  # the S3 client whose temporary folder holds ``path``: kept alive with it

    @property
    def downloaded(self) -> bool:
        return self.path is not None and os.path.exists(self.path)

    @property
    def has_info(self) -> bool:
        return self.content_type is not None or self.metadata is not None

    @property
    def blob(self) -> bytes | None:
        """The object's bytes, read from the local file now (None if it was not downloaded)."""
        if self.path is None:
            return None
        with open(self.path, "rb") as f:
            return f.read()

    @property
    def text(self) -> str | None:
        blob = self.blob
        return None if blob is None else blob.decode("utf-8")

    def __repr__(self) -> str:
        state = "" if self.exists else " missing"
        return f"<S3Object {self.url} size={self.size}{state}>"


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("bucket", "key")``."""
    if not url.startswith("s3://"):
        raise S3URLError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise S3URLError(f"no bucket in {url!r}")
    return bucket, key


def call_s3(url: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; turn botocore errors into S3NotFound / S3AccessDenied / S3Error naming ``url``."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ParamValidationError

    try:
        return fn()
    except NoCredentialsError as exc:
        raise S3Error(f"no AWS credentials for {url} (AWS_* env, IRSA, or the Airflow AWS connection)") from exc
    except EndpointConnectionError as exc:
        raise S3Error(f"cannot reach the S3 endpoint for {url}: {exc}") from exc
    except ParamValidationError as exc:  # e.g. non-ASCII metadata, an empty key
        raise S3Error(f"S3 refuses the request for {url}: {exc}") from exc
    except ClientError as exc:
        kind, code = error_kind(exc)
        if kind == "no_bucket":
            raise S3NotFound(f"{url}: bucket does not exist") from exc
        if kind == "not_found":
            raise S3NotFound(f"{url} does not exist") from exc
        if kind == "denied":
            raise S3AccessDenied(f"access denied ({code}) to {url}") from exc
        message = exc.response.get("Error", {}).get("Message", exc)
        raise S3Error(f"S3 error {code} on {url}: {message}") from exc
