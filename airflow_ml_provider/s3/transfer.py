"""The one S3 transfer engine, behind both the artifact store and the ``S3`` data client.

Why it is shaped this way
    * Small objects (below the 64 MB thresholds): one ``PutObject`` / one ``GetObject``, no
      thread pool, one round trip; most artifacts, all metadata JSON. Below 64 MB one request
      takes under a second even at one S3 connection's 50-100 MB/s, and against moto single and
      multipart/ranged were equal or single was faster (``benchmarks/s3_transfer.py``).
    * Large downloads: one plain GET learns the size, and above ``ranged_threshold`` the bytes
      are shared out: that open stream keeps reading from the front while, if it is slow,
      concurrent ranged GETs (pinned with ``If-Match`` to its ETag) claim ranges from the back,
      until the two sides meet (:class:`.primitives.Split`). Everything lands in one preallocated
      ``bytearray`` (:meth:`Transfer.read`) or with ``os.pwrite`` in one preallocated file
      (:meth:`Transfer.download`). "Slow" is measured, not assumed: after ``PROBE_SECONDS`` of
      reading, ranged GETs start only if the stream at its own pace would need more than
      ``fan_out_after`` seconds (default 0.5) for the rest. Real S3 serves one connection at
      50-100 MB/s, so every object above 64 MB fans out, 0.1 s later than it would without the
      probe; a local endpoint that streams 400+ MB/s (``moto_server``, MinIO on the same host)
      is read by the one stream it is fastest with: ``moto_server`` slices every ranged GET out of
      a full copy of the object, so ranges cost it O(ranges x size) (190 MB: 0.3 s in one stream,
      1.7 s in ranges, ``benchmarks/s3_transfer.py``). ``fan_out_after=0`` fans out at once.
      Each ranged GET takes ``1/streams`` of what is left, at least ``range_size``: one per
      stream it may use (``max_workers``, shared out among the objects of a batch).
    * Large uploads: a concurrent multipart upload over zero-copy ``memoryview`` slices of the
      caller's buffer, or ``os.pread`` parts of a local file (one part per worker in RAM), each
      part CRC32-checked by S3; atomic (see :mod:`.primitives`).
    * Retries: botocore retries each request (see :mod:`.client`); a body that breaks
      mid-stream is fetched again from its start (the object or that range), up to
      ``STREAM_ATTEMPTS`` times.
    * Pools: parts and ranges run on one pool, the objects of a batch on another (an object task
      waits on its parts, so one bounded pool could deadlock). The data client owns its pools and
      closes them with itself; the artifact store shares process-wide ones (fork-safe).
    * Progress: a log line at most every ``progress_interval`` seconds while a batch runs.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from airflow_ml_provider.s3.primitives import (
    MB,
    FileSink,
    MemorySink,
    Sink,
    Split,
    gather,
    multipart_upload,
    retry_stream,
    shared_pool,
    transient_errors,
)

T = TypeVar("T")

RANGED_THRESHOLD = 64 * MB  # below: one GetObject
RANGE_SIZE = 16 * MB  # smallest range worth its own request
MULTIPART_THRESHOLD = 64 * MB  # below: one PutObject (atomic, no transfer machinery)
PART_SIZE = 16 * MB
FAN_OUT_AFTER = 0.5  # s: ranged GETs help an open stream that would need longer than this
PROBE_SECONDS = 0.1  # how long the open stream reads before its pace is judged
FRONT_CHUNK = 1 * MB  # the open stream claims this much at a time


def default_workers() -> int:
    """Threads for batches: ``4 x cores`` in [8, 64] (8 beat 16 on 2 cores; S3's latency wants more)."""
    return max(8, min(64, 4 * (os.cpu_count() or 2)))


class Progress:
    """Thread-safe counters that log a throughput line at most every ``interval`` seconds."""

    def __init__(self, what: str, total_objects: int, interval: float, log: logging.Logger) -> None:
        self.what, self.total, self.interval, self.log = what, total_objects, interval, log
        self.objects = 0
        self.bytes = 0
        self.start = self._last = time.monotonic()
        self._logged: tuple[int, int] = (0, 0)
        self._lock = threading.Lock()

    def add(self, nbytes: int = 0, objects: int = 0) -> None:
        with self._lock:
            self.bytes += nbytes
            self.objects += objects
            now = time.monotonic()
            if self.interval >= 0 and now - self._last >= self.interval:
                self._last = now
                self._log(now)

    def _log(self, now: float) -> None:
        self._logged = (self.objects, self.bytes)
        elapsed = max(now - self.start, 1e-9)
        self.log.info(
            "S3 %s: %d/%d objects, %.1f MB, %.1f MB/s, %.0fs",
            self.what, self.objects, self.total, self.bytes / MB, self.bytes / MB / elapsed, elapsed,
        )  # fmt: skip

    def finish(self) -> None:
        """A closing line, only for batches that ran long enough to have printed progress."""
        now = time.monotonic()
        if self.interval >= 0 and now - self.start >= self.interval and self._logged != (self.objects, self.bytes):
            self._log(now)


class Transfer:
    """Thresholds, a client and pools: every byte either face moves goes through here.

    ``client`` is called for the boto3 client on every transfer (so a face can rebuild it after a
    fork). ``shared_pools`` uses process-wide pools (nothing to close) instead of owned ones.
    """

    def __init__(
        self,
        client: Callable[[], Any],
        *,
        max_workers: int,
        ranged_threshold: int = RANGED_THRESHOLD,
        range_size: int = RANGE_SIZE,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
        fan_out_after: float = FAN_OUT_AFTER,
        progress_interval: float = 10.0,
        shared_pools: bool = False,
        log: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.max_workers = max(1, max_workers)
        self.ranged_threshold = ranged_threshold
        self.range_size = max(range_size, 1 * MB)
        self.multipart_threshold = max(multipart_threshold, 5 * MB)
        self.part_size = max(part_size, 5 * MB)  # S3's minimum part size
        self.fan_out_after = fan_out_after
        self.progress_interval = progress_interval
        self.log = log or logging.getLogger(__name__)
        self._shared = shared_pools
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def _pool(self, kind: str) -> ThreadPoolExecutor:
        if self._shared:
            return shared_pool(kind, self.max_workers)
        with self._lock:
            if kind not in self._pools:
                self._pools[kind] = ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"ml-s3-{kind}")
            return self._pools[kind]

    def close(self) -> None:
        """Stop owned pools (shared ones live as long as the process)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pools"] = {}  # pools and locks do not pickle; made again on first use
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- batches ---------------------------------------------------------------------------
    def run_batch(self, what: str, items: list[T], fn: Callable[[T, Progress], Any]) -> list[Any]:
        """``fn(item, progress)`` for every item on the object pool; results in input order."""
        progress = Progress(what, len(items), self.progress_interval, self.log)
        if len(items) == 1:  # no hop through the pool for single calls
            out = [fn(items[0], progress)]
        else:
            futures: list[Future[Any]] = [self._pool("obj").submit(fn, item, progress) for item in items]
            out = gather(futures)
        progress.finish()
        return out

    def streams_for(self, batch_size: int) -> int:
        """Ranged streams per object when ``batch_size`` objects share the pool."""
        return max(1, self.max_workers // max(1, batch_size))

    # -- downloads -------------------------------------------------------------------------
    def read(self, bucket: str, key: str) -> bytes | memoryview:
        """The object's bytes: ``bytes`` from one GET, a memoryview over one bytearray when ranged."""
        return retry_stream(f"s3://{bucket}/{key}", lambda: self._read_once(bucket, key), self.log)

    def _read_once(self, bucket: str, key: str) -> bytes | memoryview:
        resp = self.client().get_object(Bucket=bucket, Key=key)
        size = int(resp["ContentLength"])
        if size <= self.ranged_threshold or self.max_workers <= 1:
            with resp["Body"] as body:
                return body.read()  # verifies length (and checksum when S3 sent one)
        sink = MemorySink(size)
        self._ranged(bucket, key, resp, sink, self.max_workers, None)
        return sink.view

    def download(self, bucket: str, key: str, dest: str, streams: int, progress: Progress) -> dict[str, Any]:
        """Fetch ``s3://bucket/key`` into file ``dest``; return its GET headers (size, type, ...)."""
        what = f"s3://{bucket}/{key}"
        meta = retry_stream(what, lambda: self._download_once(bucket, key, dest, streams, progress), self.log)
        progress.add(objects=1)
        return meta

    def _download_once(self, bucket: str, key: str, dest: str, streams: int, progress: Progress) -> dict[str, Any]:
        resp = self.client().get_object(Bucket=bucket, Key=key)
        size = int(resp["ContentLength"])
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            sink = FileSink(fd, progress.add)
            if size <= self.ranged_threshold or streams <= 1:
                with resp["Body"] as body:
                    sink.fill(body, 0, size)
            else:
                os.ftruncate(fd, size)
                self._ranged(bucket, key, resp, sink, streams, progress)
            return head_fields(resp)
        finally:
            os.close(fd)

    def _ranged(self, bucket: str, key: str, resp: dict[str, Any], sink: Sink, streams: int, progress: Any) -> None:
        """Fill ``sink`` from the open GET ``resp`` (from the front) and, when that stream is slow,
        ranged GETs claiming from the back (see the module docstring)."""
        body, size, etag = resp["Body"], int(resp["ContentLength"]), resp["ETag"]
        split = Split(size)
        futures: list[Future[None]] = []

        def fan_out() -> None:
            helpers = min(streams - 1, math.ceil(split.left() / self.range_size))
            pool = self._pool("part")
            futures.extend(pool.submit(self._steal, bucket, key, etag, sink, split, streams) for _ in range(helpers))

        started = time.monotonic()
        try:
            try:
                while (claim := split.claim_front(FRONT_CHUNK)) is not None:
                    if not futures and self._too_slow(claim[0], split.left() + claim[1], time.monotonic() - started):
                        fan_out()
                    try:
                        sink.fill(body, *claim)
                    except transient_errors():  # the open stream broke: its claim by range, the rest by stealing
                        self._range(bucket, key, etag, sink, *claim)
                        if not futures:
                            fan_out()
                        self._steal(bucket, key, etag, sink, split, streams)
                        break
            finally:
                body.close()  # drops what the stream had left (and that connection)
            gather(futures)
        except BaseException:
            split.abandon()  # ranged GETs stop after their current range; none outlives the sink
            for f in futures:
                f.cancel()
            wait(futures)
            raise

    def _too_slow(self, done: int, left: int, elapsed: float) -> bool:
        """Would the open stream, at the pace it has shown, need more than ``fan_out_after`` s for ``left``?"""
        if self.fan_out_after <= 0:
            return True
        if elapsed < PROBE_SECONDS:
            return False
        return left * elapsed > self.fan_out_after * done  # left / (done / elapsed) > fan_out_after

    def _steal(self, bucket: str, key: str, etag: str, sink: Sink, split: Split, shares: int) -> None:
        """Ranged GETs of claims from the back until nothing is left; a failure stops the others too."""
        try:
            while (claim := split.claim_back(self.range_size, shares)) is not None:
                self._range(bucket, key, etag, sink, *claim)
        except BaseException:
            split.abandon()
            raise

    def _range(self, bucket: str, key: str, etag: str, sink: Sink, start: int, length: int) -> None:
        end = start + length - 1

        def once() -> None:
            resp = self.client().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}", IfMatch=etag)
            with resp["Body"] as body:
                sink.fill(body, start, length)

        retry_stream(f"s3://{bucket}/{key} bytes {start}-{end}", once, self.log)

    # -- uploads ---------------------------------------------------------------------------
    def upload_bytes(
        self, bucket: str, key: str, data: bytes | memoryview, extra: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> None:  # fmt: skip
        """One PUT below ``multipart_threshold``, else a concurrent multipart upload; atomic."""
        view = memoryview(data).cast("B")
        if view.nbytes < self.multipart_threshold:
            body = data if isinstance(data, bytes) else view.tobytes()
            self.client().put_object(Bucket=bucket, Key=key, Body=body, **(extra or {}))
            if progress is not None:
                progress.add(view.nbytes, 1)
            return
        self._multipart(bucket, key, view.nbytes, lambda start, n: view[start : start + n], extra, progress)

    def upload_file(
        self, bucket: str, key: str, path: str, extra: dict[str, Any] | None = None, progress: Progress | None = None
    ) -> None:
        """A local file: one PUT streamed from it, or a multipart upload reading one part per worker."""
        size = os.path.getsize(path)
        if size < self.multipart_threshold:
            with open(path, "rb") as f:
                self.client().put_object(Bucket=bucket, Key=key, Body=f, **(extra or {}))
            if progress is not None:
                progress.add(size, 1)
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            self._multipart(bucket, key, size, lambda start, n: os.pread(fd, n, start), extra, progress)
        finally:
            os.close(fd)

    def _multipart(
        self, bucket: str, key: str, size: int, read_part: Callable[[int, int], bytes | memoryview],
        extra: dict[str, Any] | None, progress: Progress | None,
    ) -> None:  # fmt: skip
        multipart_upload(
            self.client(), bucket, key, size, read_part, part_size=self.part_size, pool=self._pool("part"),
            log=self.log, extra=extra, on_part=progress.add if progress is not None else None,
        )  # fmt: skip
        if progress is not None:
            progress.add(objects=1)


def head_fields(resp: dict[str, Any]) -> dict[str, Any]:
    """Size, content type, user metadata, ETag and mtime of a GET or HEAD response."""
    modified = resp.get("LastModified")
    return {
        "size": int(resp["ContentLength"]),
        "content_type": resp.get("ContentType"),
        "metadata": dict(resp.get("Metadata") or {}),
        "etag": resp.get("ETag"),
        "last_modified": int(modified.timestamp()) if modified is not None else None,
    }
