"""What :class:`airflow_ml_provider.data.S3` returns and raises.

Kept apart from the client so the values (objects, put requests, URLs) read in one place, free of
transfer mechanics. The errors (``S3NotFound`` is a ``FileNotFoundError``, ``S3AccessDenied`` a
``PermissionError``, ...) are :mod:`airflow_ml_provider.s3.errors`' and are re-exported here.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

# The error family is the shared S3 stack's; these names stay importable from here.
from airflow_ml_provider.s3.errors import S3AccessDenied, S3Error, S3NotFound, S3URLError

__all__ = ["S3AccessDenied", "S3Error", "S3NotFound", "S3Object", "S3PutObject", "S3URLError", "split_url"]


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
