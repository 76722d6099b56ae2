"""S3 backend of the artifact store (``artifact_root = s3://bucket/prefix``): a thin adapter.

Everything S3 (the client and its credentials, transfers, retries, reading botocore's errors) is
:mod:`airflow_ml_provider.s3`, shared with the ``S3`` data client; its docstrings give the
thresholds, range and part sizes and why. This module maps store paths to keys under the prefix,
implements :class:`StorageBackend` over the shared engine, and words errors for the store:
a missing object is a plain ``FileNotFoundError`` (the store reads it as "absent"), anything else
an :class:`S3StoreError` naming the artifact root and where credentials came from.

Large reads fan out into ranged GETs only when one stream is slow (``fan_out_after``, see
:mod:`airflow_ml_provider.s3.transfer`), so an emulator such as ``moto_server``, which copies the
whole object for every ranged GET, is read with one stream without any setting.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from airflow_ml_provider.datastore.backend import ObjectInfo, StorageBackend
from airflow_ml_provider.datastore.records import StoreError
from airflow_ml_provider.s3 import errors
from airflow_ml_provider.s3.client import (  # noqa: F401 - make_s3_client, s3_env_for_subprocess: old import path
    MAX_ATTEMPTS,
    ClientHolder,
    conn_id,
    credential_source,
    make_s3_client,
    s3_env_for_subprocess,
)
from airflow_ml_provider.s3.errors import S3Error
from airflow_ml_provider.s3.primitives import MB
from airflow_ml_provider.s3.transfer import (
    FAN_OUT_AFTER,
    MULTIPART_THRESHOLD,
    PART_SIZE,
    RANGE_SIZE,
    RANGED_THRESHOLD,
    Transfer,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_CONCURRENCY = 10  # connections per object above the thresholds: one object at a time here

_SETTINGS = {
    name: name for name in ("multipart_threshold", "part_size", "ranged_threshold", "range_size", "fan_out_after")
}
_SETTINGS["max_concurrency"] = "max_workers"

__all__ = ["MB", "S3Backend", "S3StoreError", "make_s3_client", "s3_env_for_subprocess"]


class S3StoreError(S3Error, StoreError):
    """A one-line, actionable S3 failure of the artifact store (missing bucket, no credentials,
    access denied): an :class:`~airflow_ml_provider.s3.S3Error` that ``except StoreError`` catches."""


class S3Backend(StorageBackend):
    """Artifact store objects under ``s3://bucket/prefix``; see the module docstring."""

    def __init__(
        self,
        root: str,
        *,
        aws_conn_id: str | None = None,
        client: Any = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
        ranged_threshold: int = RANGED_THRESHOLD,
        range_size: int = RANGE_SIZE,
        fan_out_after: float = FAN_OUT_AFTER,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        if not root.startswith("s3://") or not root[5:].split("/", 1)[0]:
            raise ValueError(f"S3 artifact root must look like s3://bucket/prefix, not {root!r}")
        bucket, _, prefix = root[5:].partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.aws_conn_id = aws_conn_id
        self._clients = ClientHolder(aws_conn_id, max(1, max_concurrency) + 2, client)
        self.transfer = Transfer(
            self._client, max_workers=max_concurrency, ranged_threshold=ranged_threshold, range_size=range_size,
            multipart_threshold=multipart_threshold, part_size=part_size, fan_out_after=fan_out_after,
            shared_pools=True, log=log,
        )  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        """The transfer settings as attributes, as before the engine was shared."""
        if name in _SETTINGS and "transfer" in self.__dict__:
            return getattr(self.transfer, _SETTINGS[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- plumbing -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 client, built on first use so creating a backend costs no I/O."""
        try:
            return self._clients.get()
        except Exception as exc:
            raise S3StoreError(f"cannot create an S3 client for {self._where()}: {exc}") from exc

    def _client(self) -> Any:
        return self.client

    def _where(self) -> str:
        return f"artifact root {self.root} ({credential_source(self.aws_conn_id)})"

    def _key(self, path: str) -> str:
        path = path.strip("/")
        if any(part in ("", ".", "..") for part in path.split("/")) and path:
            raise ValueError(f"path {path!r} is not a clean relative key")
        return f"{self.prefix}/{path}" if self.prefix and path else (self.prefix or path)

    def _call(self, key: str, fn: Callable[[], T], op: str = "request") -> T:
        """Run ``fn``; S3's errors become FileNotFoundError or a one-line S3StoreError."""
        url = f"s3://{self.bucket}/{key}"
        try:
            return errors.call(url, fn, op)
        except S3StoreError:
            raise
        except S3Error as exc:
            raise self._store_error(exc, url, op) from exc.__cause__ or exc

    def _store_error(self, exc: S3Error, url: str, op: str) -> Exception:
        """The store's wording of ``exc``: the URL, and which root with which credentials."""
        where, cause = self._where(), exc.__cause__
        if exc.kind == errors.NOT_FOUND:
            return FileNotFoundError(url)
        if exc.kind == errors.NO_CREDENTIALS:
            return S3StoreError(f"no AWS credentials found for {where}", url=url, kind=exc.kind)
        if exc.kind == errors.UNREACHABLE:
            endpoint = getattr(cause, "kwargs", {}).get("endpoint_url", "?")
            return S3StoreError(f"cannot reach the S3 endpoint {endpoint} for {where}", url=url, kind=exc.kind)
        if exc.kind == errors.CONNECTION:
            endpoint = self.client.meta.endpoint_url
            return S3StoreError(
                f"S3 {op} of {url} failed at {endpoint} after {MAX_ATTEMPTS} attempts "
                f"({type(cause).__name__}): {where}", url=url, kind=exc.kind,
            )  # fmt: skip
        if exc.kind == errors.NO_BUCKET:
            return S3StoreError(f"bucket {self.bucket!r} does not exist: {where}", url=url, kind=exc.kind)
        if exc.kind == errors.DENIED:
            return S3StoreError(f"access denied ({exc.code}) to {url}: {where}", url=url, kind=exc.kind, code=exc.code)
        if exc.kind == errors.INVALID:
            return S3StoreError(f"{exc}: {where}", url=url, kind=exc.kind)
        return S3StoreError(f"S3 error {exc.code} on {url}: {where}", url=url, kind=exc.kind, code=exc.code)

    # -- StorageBackend ---------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        """HEAD the object; 404 means absent."""
        try:
            self.size(path)
        except FileNotFoundError:
            return False
        return True

    def delete(self, path: str) -> None:
        key = self._key(path)
        self._call(key, lambda: self.client.delete_object(Bucket=self.bucket, Key=key), "DELETE")

    def delete_many(self, paths: list[str]) -> None:
        """DeleteObjects, 1000 keys per request (S3's cap); absent keys are fine."""
        for i in range(0, len(paths), 1000):
            keys = [self._key(p) for p in paths[i : i + 1000]]
            self._call(keys[0], functools.partial(self._delete_batch, keys), "DELETE")

    def _delete_batch(self, keys: list[str]) -> None:
        batch = {"Objects": [{"Key": k} for k in keys], "Quiet": True}
        self.client.delete_objects(Bucket=self.bucket, Delete=batch)

    def walk(self, prefix: str) -> dict[str, ObjectInfo]:
        """ListObjectsV2 without a delimiter, all pages."""
        base = self._key(prefix)
        base = f"{base}/" if base else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        found: dict[str, ObjectInfo] = {}

        def scan() -> None:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
                for obj in page.get("Contents", ()):
                    found[obj["Key"][strip:]] = ObjectInfo(obj["LastModified"].timestamp(), int(obj["Size"]))

        self._call(base, scan, "LIST")
        return found

    def size(self, path: str) -> int:
        key = self._key(path)
        head = self._call(key, lambda: self.client.head_object(Bucket=self.bucket, Key=key), "HEAD")
        return int(head["ContentLength"])

    def list_dir(self, prefix: str) -> list[str]:
        """Names directly below ``prefix``: ListObjectsV2 with Delimiter='/', all pages."""
        base = self._key(prefix)
        base = f"{base}/" if base else ""
        names: set[str] = set()

        def scan() -> None:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/"
            )
            for page in pages:
                for cp in page.get("CommonPrefixes", ()):
                    names.add(cp["Prefix"][len(base) :].rstrip("/"))
                for obj in page.get("Contents", ()):
                    names.add(obj["Key"][len(base) :])

        self._call(base, scan, "LIST")
        names.discard("")
        return sorted(names)

    def write(self, path: str, data: bytes | memoryview) -> None:
        """One PUT below ``multipart_threshold``, else a concurrent multipart upload; atomic."""
        key = self._key(path)
        big = memoryview(data).nbytes >= self.transfer.multipart_threshold
        op = "multipart upload" if big else "PUT"
        self._call(key, lambda: self.transfer.upload_bytes(self.bucket, key, data), op)

    def read(self, path: str) -> bytes | memoryview:
        """Bytes of a small object; a memoryview over one bytearray for a ranged large one."""
        key = self._key(path)
        return self._call(key, lambda: self.transfer.read(self.bucket, key), "GET")
