"""S3 backend of the artifact store (``artifact_root = s3://bucket/prefix``).

Transfers
    Objects below ``multipart_threshold`` are one ``PutObject`` / one ``GetObject``: no thread
    pool, no transfer manager, one round trip (metadata JSON and most artifacts live here).
    Larger writes are our own concurrent multipart upload over zero-copy ``memoryview`` slices of
    the caller's buffer (boto3's ``upload_fileobj`` copies every part into a new ``BytesIO``); the
    object appears only on ``CompleteMultipartUpload`` and any failure aborts the upload, so a
    failed write leaves no object. Larger reads start one plain GET, learn the size from it, read
    the first range from that stream while the other ranges arrive concurrently as ranged GETs
    into one preallocated ``bytearray`` (pinned to the first response's ETag with ``If-Match``).

Thresholds (64 MB both ways; measured with ``benchmarks/s3_transfer.py``)
    Below 64 MB one request takes under a second even at one S3 connection's 50-100 MB/s, and
    against moto single and multipart/ranged were equal or single was faster (64 MB put: single
    0.9-1.4x raw, multipart 0.6-1.4x; get: single 0.9-1.2x, ranged 0.4x). Above it, parallel
    16 MB parts/ranges over 10 connections are how real S3 reaches network speed. ``moto_server``
    cannot show that: it slices every ranged GET out of a full copy of the object, so a ranged
    download costs O(ranges x size) there (512 MB: ranged 33-40 MB/s vs single GET 170-580 MB/s;
    boto3's own ranged ``download_fileobj`` 19-22 MB/s). Figures from a 2-core machine under other
    load; pass ``ranged_threshold=`` (e.g. a huge value) when an emulator is the target.
    A process killed mid-upload leaves invisible parts: give the bucket an
    ``AbortIncompleteMultipartUpload`` lifecycle rule.

Credentials and endpoint
    Inside an Airflow process (``"airflow" in sys.modules``) the client comes from the Airflow AWS
    connection ``[ml_provider] aws_conn_id`` through the amazon provider's hook, so the
    connection's ``endpoint_url``/``region_name``/``config_kwargs`` (MinIO, moto) apply. A step
    subprocess or pod never imports Airflow (2.5 s): it builds a plain boto3 client from the
    standard chain (``AWS_*`` env vars, IRSA web identity, shared config), and boto3 itself honours
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``. For a local step subprocess the worker passes
    the connection on with :func:`s3_env_for_subprocess`; for pods use IRSA (service account) or a
    Kubernetes secret exposed as env vars, never clear text in the pod spec. Credentials are never
    logged.

Retries
    botocore's ``standard`` retry mode retries each request on connection errors, 5xx and
    throttling with exponential backoff and jitter. What it cannot see -- a connection reset
    while a response body streams -- is retried here around each GET (whole object or range).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from airflow_ml_provider.datastore.backend import ObjectInfo, StorageBackend
from airflow_ml_provider.datastore.records import StoreError
from airflow_ml_provider.datastore.s3_io import MB, error_kind, gather, multipart_upload, retry_stream, transient_errors

log = logging.getLogger(__name__)
T = TypeVar("T")

MULTIPART_THRESHOLD = 64 * MB  # below: one PutObject (atomic, no transfer machinery)
PART_SIZE = 16 * MB
RANGED_THRESHOLD = 64 * MB  # below: one GetObject
RANGE_SIZE = 16 * MB
MAX_CONCURRENCY = 10
MAX_ATTEMPTS = 6  # botocore attempts per request
_READ_CHUNK = 8 * MB


class S3StoreError(StoreError):
    """A one-line, actionable S3 failure (missing bucket, no credentials, access denied)."""


def _botocore_config(max_pool_connections: int) -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=max_pool_connections,
        connect_timeout=10,
        read_timeout=120,
        tcp_keepalive=True,
    )


def make_s3_client(aws_conn_id: str | None = None, max_pool_connections: int = MAX_CONCURRENCY + 2) -> Any:
    """A boto3 S3 client: from the Airflow connection inside Airflow, else from the environment."""
    defaults = _botocore_config(max_pool_connections)
    if "airflow" in sys.modules:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook = S3Hook(aws_conn_id=aws_conn_id or _conn_id())
        # Same client S3Hook.get_conn() builds, with our retry/pool defaults under whatever the
        # connection's ``config_kwargs`` set (a hook-level config would replace those entirely).
        own = hook.conn_config.botocore_config
        config = defaults.merge(own) if own is not None else defaults
        return hook.get_client_type(region_name=hook.region_name, config=config)
    import boto3

    return boto3.session.Session().client("s3", config=defaults)


def _conn_id() -> str:
    from airflow_ml_provider.config import get_option

    return get_option("aws_conn_id") or "aws_default"


def s3_env_for_subprocess(aws_conn_id: str | None = None) -> dict[str, str]:
    """Env vars that give a local step subprocess the Airflow connection's S3 access.

    Call inside an Airflow process only. The subprocess then needs no Airflow import. Session
    tokens expire with the credentials they came from. Pods must not get these values in clear
    text: mount them from a Kubernetes secret or use IRSA instead.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.exceptions import NoCredentialsError

    hook = AwsBaseHook(aws_conn_id=aws_conn_id or _conn_id(), client_type="s3")
    env: dict[str, str] = {}
    try:
        creds = hook.get_credentials()  # also masks the secret and token in task logs
    except NoCredentialsError:
        creds = None  # the subprocess falls back on its own default chain (e.g. instance role)
    if creds is not None:
        env["AWS_ACCESS_KEY_ID"] = creds.access_key
        env["AWS_SECRET_ACCESS_KEY"] = creds.secret_key
        if creds.token:
            env["AWS_SESSION_TOKEN"] = creds.token
    if hook.conn_config.region_name:
        env["AWS_DEFAULT_REGION"] = hook.conn_config.region_name
    endpoint = hook.conn_config.get_service_endpoint_url("s3")
    if endpoint:
        env["AWS_ENDPOINT_URL_S3"] = endpoint
    return env


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools_after_fork() -> None:
    # A forked child (LocalExecutor, multiprocessing) inherits pool objects but not their threads.
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_after_fork)


def _pool(size: int) -> ThreadPoolExecutor:
    # Shared per size: part tasks never wait on other pool tasks, so sharing cannot deadlock.
    with _POOLS_LOCK:
        if size not in _POOLS:
            _POOLS[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="ml-s3")
        return _POOLS[size]


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
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        if not root.startswith("s3://") or not root[5:].split("/", 1)[0]:
            raise ValueError(f"S3 artifact root must look like s3://bucket/prefix, not {root!r}")
        bucket, _, prefix = root[5:].partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.aws_conn_id = aws_conn_id
        self.multipart_threshold = max(multipart_threshold, 5 * MB)
        self.part_size = max(part_size, 5 * MB)  # S3's minimum part size
        self.ranged_threshold = ranged_threshold
        self.range_size = max(range_size, 1 * MB)
        self.max_concurrency = max(1, max_concurrency)
        self._client = client
        self._client_pid = os.getpid()
        self._client_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 client, built on first use so creating a backend costs no I/O."""
        if self._client is None or self._client_pid != os.getpid():
            with self._client_lock:  # a client (and its sockets) never crosses a fork
                if self._client is None or self._client_pid != os.getpid():
                    try:
                        self._client = make_s3_client(self.aws_conn_id, self.max_concurrency + 2)
                    except Exception as exc:
                        raise S3StoreError(f"cannot create an S3 client for {self._where()}: {exc}") from exc
                    self._client_pid = os.getpid()
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None  # clients and locks do not pickle; rebuilt on first use
        state.pop("_client_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client_lock = threading.Lock()

    def _where(self) -> str:
        if "airflow" in sys.modules:
            return f"artifact root {self.root} (AWS connection {self.aws_conn_id or _conn_id()!r})"
        return (
            f"artifact root {self.root} (outside Airflow: credentials from AWS_* env / IRSA / shared "
            f"config, not from the Airflow connection {self.aws_conn_id or _conn_id()!r})"
        )

    def _key(self, path: str) -> str:
        path = path.strip("/")
        if any(part in ("", ".", "..") for part in path.split("/")) and path:
            raise ValueError(f"path {path!r} is not a clean relative key")
        return f"{self.prefix}/{path}" if self.prefix and path else (self.prefix or path)

    def _call(self, key: str, fn: Callable[[], T], op: str = "request") -> T:
        """Run ``fn``, turning S3's errors into FileNotFoundError or one-line S3StoreError."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        url = f"s3://{self.bucket}/{key}"
        try:
            return fn()
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise S3StoreError(f"no AWS credentials found for {self._where()}") from exc
        except EndpointConnectionError as exc:
            endpoint = exc.kwargs.get("endpoint_url", "?")
            raise S3StoreError(f"cannot reach the S3 endpoint {endpoint} for {self._where()}") from exc
        except HTTPClientError as exc:  # connection reset/closed, timeouts: botocore retried already
            endpoint = self.client.meta.endpoint_url
            raise S3StoreError(
                f"S3 {op} of {url} failed at {endpoint} after {MAX_ATTEMPTS} attempts "
                f"({type(exc).__name__}): {self._where()}"
            ) from exc
        except ClientError as exc:
            kind, code = error_kind(exc)
            if kind == "no_bucket":
                raise S3StoreError(f"bucket {self.bucket!r} does not exist: {self._where()}") from exc
            if kind == "not_found":
                raise FileNotFoundError(url) from exc
            if kind == "denied":
                raise S3StoreError(f"access denied ({code}) to {url}: {self._where()}") from exc
            raise S3StoreError(f"S3 error {code} on {url}: {self._where()}") from exc

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
        view = memoryview(data).cast("B")
        if view.nbytes < self.multipart_threshold:
            body = data if isinstance(data, bytes) else view.tobytes()
            self._call(key, lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body), "PUT")
        else:
            self._call(key, lambda: self._multipart_upload(key, view), "multipart upload")

    def read(self, path: str) -> bytes | memoryview:
        """Bytes of a small object; a memoryview over one bytearray for a ranged large one."""
        key = self._key(path)
        return self._call(key, lambda: retry_stream(key, lambda: self._get(key)), "GET")

    # -- transfers ---------------------------------------------------------------------------
    def _multipart_upload(self, key: str, view: memoryview) -> None:
        multipart_upload(
            self.client, self.bucket, key, view.nbytes, lambda start, n: view[start : start + n],
            part_size=self.part_size, pool=_pool(self.max_concurrency),
        )  # fmt: skip

    def _get(self, key: str) -> bytes | memoryview:
        resp = self.client.get_object(Bucket=self.bucket, Key=key)
        body = resp["Body"]
        size = int(resp["ContentLength"])
        if size <= self.ranged_threshold:
            with body:
                return body.read()  # verifies length (and checksum when S3 sent one)
        buf = bytearray(size)
        view = memoryview(buf)
        step = self.range_size
        etag = resp["ETag"]
        futures = [
            _pool(self.max_concurrency).submit(
                retry_stream, key, lambda s=start: self._get_range(key, etag, view[s : s + step], s)
            )
            for start in range(step, size, step)
        ]
        try:
            try:
                _read_into(body, view[:step])
            finally:
                body.close()  # drops the rest of the stream (and that connection)
        except transient_errors():
            retry_stream(key, lambda: self._get_range(key, etag, view[:step], 0))
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        gather(futures)
        return view

    def _get_range(self, key: str, etag: str, dest: memoryview, start: int) -> None:
        resp = self.client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + dest.nbytes - 1}", IfMatch=etag
        )
        with resp["Body"] as body:
            _read_into(body, dest)


def _read_into(body: Any, dest: memoryview) -> None:
    """Fill ``dest`` from a StreamingBody; a short stream raises IncompleteReadError."""
    from botocore.exceptions import IncompleteReadError

    filled, total = 0, dest.nbytes
    while filled < total:
        got = body.readinto(dest[filled : min(total, filled + _READ_CHUNK)])
        if not got:
            raise IncompleteReadError(actual_bytes=filled, expected_bytes=total)
        filled += got
