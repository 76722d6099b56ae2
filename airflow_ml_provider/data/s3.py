"""``S3``: Metaflow's S3 client names and meanings, for steps that read or write data at scale.

::

    from airflow_ml_provider import S3

    @step
    def start(self):
        with S3(run=self) as s3:                     # keys live under this run (see below)
            s3.put("config.json", json.dumps(cfg))
            s3.put_files([("raw/a.csv", "/tmp/a.csv")])
        with S3(s3root="s3://bucket/dataset/") as s3:
            for obj in s3.get_many(["part-0.parquet", "part-1.parquet"]):
                table = pyarrow.parquet.read_table(obj.path)   # a local file, valid in the block
        with S3() as s3:                             # full URLs
            obj = s3.get("s3://bucket/x.txt", return_missing=True)
            print(obj.exists, obj.text if obj.exists else None)

Scoping
    ``S3(run=self)`` inside a step (or ``run=Run("Flow/run_id")`` from the client) puts keys at
    ``<artifact_root>/<Flow>/runs/<run_id>/data-s3/<key>``: next to the run's metadata, so a run's
    data is found (and cleaned up) with the run. It needs an ``s3://`` artifact root.
    ``S3(s3root=...)`` makes keys relative to that prefix; ``S3()`` takes full ``s3://`` URLs only.
    Returned objects' ``.key`` is relative to the root (the full URL when there is none).

Objects
    ``get*`` download every object to its own file in a temporary folder that ``close()`` (the end
    of the ``with`` block) removes: memory stays bounded whatever the object count or size, and
    ``.blob`` / ``.text`` read the file only when asked. ``info*`` / ``list*`` return objects
    without a local copy (``.path is None``). A missing key raises :class:`S3NotFound` naming
    the URL, or, with ``return_missing=True``, gives an object with ``.exists == False``.
    User metadata is stored as plain S3 user metadata (``x-amz-meta-*``), string values.

This class is the user-facing face of :mod:`airflow_ml_provider.s3`, which the artifact store
shares: credentials from :mod:`airflow_ml_provider.s3.client` (the Airflow AWS connection inside
Airflow, the standard AWS chain in a step process or pod), transfers, sizes and retries in
:mod:`airflow_ml_provider.s3.transfer`, errors in :mod:`airflow_ml_provider.s3.errors`.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from airflow_ml_provider.data.objects import S3Object, S3PutObject, split_url
from airflow_ml_provider.s3.client import ClientHolder
from airflow_ml_provider.s3.errors import S3AccessDenied, S3Error, S3NotFound, S3URLError
from airflow_ml_provider.s3.errors import call as call_s3
from airflow_ml_provider.s3.transfer import Progress, Transfer, default_workers, head_fields

log = logging.getLogger(__name__)  # progress lines and retries of this client's transfers
TRANSFER_OPTIONS = frozenset({"ranged_threshold", "range_size", "multipart_threshold", "part_size", "fan_out_after"})

__all__ = ["S3", "S3AccessDenied", "S3Error", "S3NotFound", "S3Object", "S3PutObject", "S3URLError", "run_root"]


class S3:
    """Fast S3 access with Metaflow's method names; use as a context manager (see module doc)."""

    def __init__(
        self, *, run: Any = None, s3root: str | None = None, bucket: str | None = None, prefix: str | None = None,
        tmproot: str | None = None, aws_conn_id: str | None = None, client: Any = None,
        max_workers: int | None = None, progress_interval: float = 10.0, **transfer: float,
    ) -> None:  # fmt: skip
        if bucket and not s3root:
            s3root = f"s3://{bucket}/{(prefix or '').strip('/')}"
        if run is not None:
            if s3root:
                raise S3URLError("pass either run= or s3root=, not both")
            s3root = run_root(run)
        if s3root is not None and not s3root.startswith("s3://"):
            raise S3URLError(f"s3root must be an s3:// URL, not {s3root!r}")
        self._root = s3root.rstrip("/") if s3root else None
        self._tmproot = tmproot
        self._tmpdir: str | None = None
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._workers = max_workers or default_workers()
        self._clients = ClientHolder(aws_conn_id, 2 * self._workers + 4, client)  # pool for both thread pools
        unknown = sorted(set(transfer) - TRANSFER_OPTIONS)
        if unknown:  # fail here, not at the first transfer; Metaflow's role=/encryption= included
            raise TypeError(
                f"S3() got unexpected keyword arguments {unknown}; transfer options are {sorted(TRANSFER_OPTIONS)}. "
                "Credentials come from the Airflow AWS connection or the AWS_* environment (no role=)."
            )
        self._engine_opts = dict(transfer, progress_interval=progress_interval)
        self._engine: Transfer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> S3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the pools and delete every downloaded file."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def client(self) -> Any:
        """The boto3 client (connection pool sized for both thread pools)."""
        return self._clients.get()

    @property
    def engine(self) -> Transfer:
        """The shared transfer engine with this client's pools (closed with it)."""
        if self._engine is None:
            self._engine = Transfer(self._clients.get, max_workers=self._workers, log=log, **self._engine_opts)
        return self._engine

    @property
    def s3root(self) -> str | None:
        return self._root

    def _tmp(self, url: str) -> str:
        with self._lock:  # worker threads call this: one folder per client
            if self._tmpdir is None:
                self._tmpdir = tempfile.mkdtemp(prefix="ml-s3-", dir=self._tmproot)
                weakref.finalize(self, shutil.rmtree, self._tmpdir, True)  # also without `with`/close()
        name = re.sub(r"[^A-Za-z0-9._-]", "_", url.rsplit("/", 1)[-1])[-80:]
        return os.path.join(self._tmpdir, f"{next(self._counter):07d}-{name}")

    # -- URLs ------------------------------------------------------------------------------
    def _url(self, key: Any) -> str:
        key = getattr(key, "key", key)
        if self._root is None:
            if not key or not str(key).startswith("s3://"):
                raise S3URLError(f"S3() without s3root or run needs full s3:// URLs, not {key!r}")
            return str(key)
        if key and str(key).startswith("s3://"):
            raise S3URLError(f"{key!r}: pass keys relative to {self._root} (this client has a root)")
        return f"{self._root}/{str(key).lstrip('/')}" if key else self._root

    def _key_of(self, url: str) -> str:
        if self._root is None or not url.startswith(self._root):
            return url
        return url[len(self._root) :].strip("/")

    def _obj(self, url: str, **fields: Any) -> S3Object:
        # An object with a local file keeps this client (and so the file) alive: S3().get(k).text works.
        owner = self if fields.get("path") is not None else None
        return S3Object(url, self._key_of(url), prefix=self._root, owner=owner, **fields)

    # -- listing ---------------------------------------------------------------------------
    def list_paths(self, keys: Iterable[str] | None = None) -> list[S3Object]:
        """The next level under each key: objects (``exists``) and prefixes (``exists == False``)."""
        return self._list(keys, delimiter="/")

    def list_recursive(self, keys: Iterable[str] | None = None) -> list[S3Object]:
        """Every object under each key, with sizes (no download)."""
        return self._list(keys, delimiter="")

    def _list(self, keys: Iterable[str] | None, delimiter: str) -> list[S3Object]:
        return [obj for chunk in self._list_each(keys, delimiter) for obj in chunk]

    def _list_each(self, keys: Iterable[str | None] | None, delimiter: str) -> list[list[S3Object]]:
        """One listing per key, run concurrently; results in key order."""
        urls = [self._url(k) for k in (keys if keys is not None else [None])]

        def one(url: str, progress: Progress) -> list[S3Object]:
            bucket, prefix = split_url(url.rstrip("/") + "/")
            prefix = "" if prefix == "/" else prefix
            out: list[S3Object] = []
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter=delimiter
            )
            for page in call_s3(url, lambda: list(pages)):
                for item in page.get("Contents", ()):
                    modified = item.get("LastModified")
                    out.append(
                        self._obj(
                            f"s3://{bucket}/{item['Key']}",
                            size=int(item["Size"]),
                            etag=item.get("ETag"),
                            last_modified=int(modified.timestamp()) if modified else None,
                        )
                    )
                for cp in page.get("CommonPrefixes", ()):
                    out.append(self._obj(f"s3://{bucket}/{cp['Prefix']}", exists=False))
            return out

        return self.engine.run_batch("list", urls, one)

    # -- info ------------------------------------------------------------------------------
    def info(self, key: str | None = None, return_missing: bool = False) -> S3Object:
        """Size, content type and metadata of one object (a HEAD request, no download)."""
        return self.info_many([key], return_missing=return_missing)[0]

    def info_many(self, keys: Iterable[str | None], return_missing: bool = False) -> list[S3Object]:
        urls = [self._url(k) for k in keys]

        def one(url: str, progress: Progress) -> S3Object:
            bucket, key = split_url(url)
            try:
                head = call_s3(url, lambda: self.client.head_object(Bucket=bucket, Key=key))
            except S3NotFound:
                if return_missing:
                    return self._obj(url, exists=False)
                raise
            return self._obj(url, **head_fields(head))

        return self.engine.run_batch("info", urls, one)

    # -- get -------------------------------------------------------------------------------
    def get(self, key: str | None = None, return_missing: bool = False, return_info: bool = True) -> S3Object:
        """Download one object to a temp file; ``.path`` / ``.blob`` / ``.text`` read it.

        ``return_info`` is accepted for Metaflow compatibility: content type and metadata come
        with the GET response anyway, so they are always filled in.
        """
        return self._get_urls([self._url(key)], return_missing)[0]

    def get_many(self, keys: Iterable[str], return_missing: bool = False, return_info: bool = True) -> list[S3Object]:
        """Download many objects concurrently, in the order given."""
        return self._get_urls([self._url(k) for k in keys], return_missing)

    def get_recursive(self, keys: Iterable[str], return_info: bool = False) -> list[S3Object]:
        """Download every object under each prefix; a key that is an object itself is fetched too."""
        keys = list(keys)
        listed = self._list_each(keys, delimiter="")
        bare = [k for k, objs in zip(keys, listed, strict=True) if not objs and k is not None]
        objects = {o.url for o in self.info_many(bare, return_missing=True) if o.exists}
        urls = []
        for key, objs in zip(keys, listed, strict=True):  # as Metaflow: an object key gets that object
            urls.extend([o.url for o in objs] or [url for url in [self._url(key)] if url in objects])
        return self._get_urls(urls, False)

    def get_all(self, return_info: bool = False) -> list[S3Object]:
        """Download everything under this client's root."""
        if self._root is None:
            raise S3URLError("get_all() needs S3(s3root=...) or S3(run=...)")
        return self.get_recursive([None])  # type: ignore[list-item]

    def _get_urls(self, urls: list[str], return_missing: bool) -> list[S3Object]:
        streams = self.engine.streams_for(len(urls))

        def one(url: str, progress: Progress) -> S3Object:
            bucket, key = split_url(url)
            dest = self._tmp(url)
            try:
                meta = call_s3(url, lambda: self.engine.download(bucket, key, dest, streams, progress))
            except S3NotFound:
                if os.path.exists(dest):
                    os.unlink(dest)
                if return_missing:
                    return self._obj(url, exists=False)
                raise
            return self._obj(url, path=dest, **meta)

        return self.engine.run_batch("get", urls, one)

    # -- put -------------------------------------------------------------------------------
    def put(
        self, key: str | S3PutObject, obj: bytes | str | Any, overwrite: bool = True,
        content_type: str | None = None, metadata: dict[str, str] | None = None,
    ) -> str:  # fmt: skip
        """Upload bytes, a str (UTF-8) or a readable file object; return the URL (also when
        ``overwrite=False`` left an existing object in place)."""
        item = S3PutObject(getattr(key, "key", key), obj, None, content_type, metadata)
        stored = self._put([item], overwrite)
        return stored[0][1] if stored else self._url(item.key)

    def put_many(
        self, key_objs: Iterable[tuple[str, Any] | S3PutObject], overwrite: bool = True
    ) -> list[tuple[str, str]]:
        """Upload ``(key, bytes|str)`` pairs concurrently; return ``(key, url)`` of those stored."""
        items = [o if isinstance(o, S3PutObject) else S3PutObject(o[0], o[1]) for o in key_objs]
        return self._put(items, overwrite)

    def put_files(
        self, key_paths: Iterable[tuple[str, str] | S3PutObject], overwrite: bool = True
    ) -> list[tuple[str, str]]:
        """Upload local files (multipart above the threshold); return ``(key, url)`` of those stored."""
        items = [o if isinstance(o, S3PutObject) else S3PutObject(o[0], None, o[1]) for o in key_paths]
        for item in items:
            if item.path is None or not os.path.isfile(item.path):
                raise FileNotFoundError(f"put_files: no local file {item.path!r} for key {item.key!r}")
        return self._put(items, overwrite)

    def _put(self, items: list[S3PutObject], overwrite: bool) -> list[tuple[str, str]]:
        def one(item: S3PutObject, progress: Progress) -> tuple[str, str] | None:
            url = self._url(item.key)
            bucket, key = split_url(url)
            if not overwrite and self.info(item.key, return_missing=True).exists:
                return None  # not stored: Metaflow returns only the objects it wrote
            extra: dict[str, Any] = {}
            if item.content_type:
                extra["ContentType"] = item.content_type
            if item.metadata:
                extra["Metadata"] = {str(k): str(v) for k, v in item.metadata.items()}
            if item.path is not None:
                call_s3(url, lambda: self.engine.upload_file(bucket, key, item.path, extra, progress))
            else:
                data = _to_bytes(item.value, url)
                call_s3(url, lambda: self.engine.upload_bytes(bucket, key, data, extra, progress))
            return item.key, url

        return [pair for pair in self.engine.run_batch("put", items, one) if pair is not None]


def _to_bytes(value: Any, url: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value) if not isinstance(value, bytes) else value
    if hasattr(value, "read"):
        data = value.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    raise TypeError(f"cannot upload {type(value).__name__} to {url}: pass bytes, str or a readable file")


def run_root(run: Any) -> str:
    """``<artifact_root>/<Flow>/runs/<run_id>/data-s3`` for a running FlowSpec or a client Run."""
    from airflow_ml_provider.dsl.current import current

    if hasattr(run, "flow_name") and hasattr(run, "id") and hasattr(run, "_store"):  # client Run
        flow, run_id, root = run.flow_name, run.id, run._store.backend.root  # the root it was read from
    elif current.is_running_flow:
        flow, run_id, root = current.flow_name, current.run_id, current.artifact_root or ""
    else:
        raise S3URLError("S3(run=...) needs a running step's self or a client Run; use s3root= otherwise")
    if not str(root).startswith("s3://"):
        raise S3URLError(
            f"S3(run=...) needs an s3:// artifact root, but this run's is {root!r}: "
            "set [ml_provider] artifact_root to s3://bucket/prefix or pass s3root="
        )
    return f"{str(root).rstrip('/')}/{flow}/runs/{run_id}/data-s3"
