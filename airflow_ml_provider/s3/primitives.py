"""Request-level pieces of the transfer engine: body retries, result gathering, multipart uploads,
and the two places a download lands (memory, a file).

Multipart uploads
    Each part is whatever ``read_part(start, length)`` returns: a zero-copy ``memoryview`` slice
    of an in-memory value, or one ``os.pread`` of a local file (one part per worker in RAM; a file
    is not memory-mapped because a file truncated by another process mid-upload would kill the
    step with SIGBUS instead of raising an error). Each part carries a CRC32 checksum that S3
    verifies, and the upload is created with ``ChecksumAlgorithm=CRC32`` so S3 stores a composite
    checksum for the whole object (what boto3's own transfer manager does with botocore's default
    ``when_supported`` checksums). The object appears only on ``CompleteMultipartUpload``; any
    failure aborts the upload, so a failed write leaves no object. A process killed mid-upload
    leaves invisible parts: give the bucket an ``AbortIncompleteMultipartUpload`` lifecycle rule.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

MB = 1 << 20
STREAM_ATTEMPTS = 4  # our attempts per GET whose body broke mid-stream
MAX_PARTS = 10_000  # S3's limit per multipart upload
MIN_PART_SIZE = 5 * MB  # S3's minimum for every part but the last
MEMORY_CHUNK = 8 * MB  # readinto() straight into the destination buffer
FILE_CHUNK = 1 * MB  # bounce buffer per stream for file downloads


class ViewReader:
    """Seekable file object over a memoryview whose reads return zero-copy slices."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._pos = 0

    def __len__(self) -> int:
        return self._view.nbytes

    def read(self, size: int | None = -1) -> memoryview:
        end = self._view.nbytes if size is None or size < 0 else min(self._pos + size, self._view.nbytes)
        chunk = self._view[self._pos : end]
        self._pos = end
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, self._view.nbytes)[whence]
        self._pos = max(0, min(base + offset, self._view.nbytes))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    seekable = readable


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors of a body read; request-level ones (connect, 5xx, throttling) botocore already retried."""
    import botocore.exceptions as bce
    from urllib3.exceptions import ProtocolError

    names = ("ConnectionClosedError", "IncompleteReadError", "ReadTimeoutError")
    return (*(getattr(bce, n) for n in names), bce.ResponseStreamingError, ProtocolError, ConnectionError)


def retry_stream(what: str, fn: Callable[[], T], log: logging.Logger) -> T:
    """Run ``fn`` again (whole object or one range) when a response body broke mid-stream.

    botocore retries failed requests but not a body that breaks while being read.
    """
    transient = transient_errors()
    for attempt in range(1, STREAM_ATTEMPTS + 1):
        try:
            return fn()
        except transient as exc:
            if attempt == STREAM_ATTEMPTS:
                raise
            delay = min(8.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning(
                "transient S3 error reading %s (%s), attempt %d/%d, retrying in %.1fs",
                what, type(exc).__name__, attempt, STREAM_ATTEMPTS, delay,
            )  # fmt: skip
            time.sleep(delay)
    raise AssertionError("unreachable")


def gather(futures: list[Future[T]]) -> list[T]:
    """Results in order; on the first failure cancel what has not started and re-raise."""
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    failed = [f for f in done if f.exception() is not None]
    if failed:
        for f in pending:
            f.cancel()
        wait(pending)
        raise failed[0].exception()  # type: ignore[misc]
    return [f.result() for f in futures]


def multipart_upload(
    client: Any,
    bucket: str,
    key: str,
    size: int,
    read_part: Callable[[int, int], bytes | memoryview],
    *,
    part_size: int,
    pool: Executor,
    log: logging.Logger,
    extra: dict[str, Any] | None = None,
    on_part: Callable[[int], None] | None = None,
) -> None:
    """Upload ``size`` bytes as ``s3://bucket/key`` in concurrent CRC32-checked parts on ``pool``.

    ``read_part(start, length)`` gives a part's bytes; ``extra`` goes to ``CreateMultipartUpload``
    (ContentType, Metadata, ...); ``on_part(nbytes)`` is called after each part (progress).
    Aborts the upload on any failure, then re-raises.
    """
    part = max(part_size, MIN_PART_SIZE, -(-size // MAX_PARTS))
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", **(extra or {}))[
        "UploadId"
    ]

    def put_part(number: int, start: int) -> dict[str, Any]:
        length = min(part, size - start)
        data = memoryview(read_part(start, length)).cast("B")
        if data.nbytes != length:
            raise OSError(f"s3://{bucket}/{key}: the source changed size during the upload")
        body = ViewReader(data)  # seekable: botocore rewinds it for a retry
        resp = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm="CRC32"
        )
        if on_part is not None:
            on_part(length)
        done = {"PartNumber": number, "ETag": resp["ETag"]}
        if resp.get("ChecksumCRC32"):
            done["ChecksumCRC32"] = resp["ChecksumCRC32"]
        return done

    try:
        futures = [pool.submit(put_part, n, start) for n, start in enumerate(range(0, size, part), start=1)]
        parts = gather(futures)
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as exc:  # the original error matters more; S3 lifecycle rules clean up
            log.warning("could not abort multipart upload of s3://%s/%s: %s", bucket, key, exc)
        raise


class Sink(Protocol):
    """Where a download's bytes go; ``fill`` is called from several threads, one range each."""

    def fill(self, body: Any, offset: int, length: int) -> None:
        """Read exactly ``length`` bytes of ``body`` into place at ``offset``."""


class MemorySink:
    """One preallocated buffer; ranges are read straight into their slice (no copy)."""

    def __init__(self, size: int, on_bytes: Callable[[int], None] | None = None) -> None:
        self.view = memoryview(bytearray(size))
        self._on_bytes = on_bytes

    def fill(self, body: Any, offset: int, length: int) -> None:
        from botocore.exceptions import IncompleteReadError

        dest = self.view[offset : offset + length]
        filled = 0
        while filled < length:
            got = body.readinto(dest[filled : min(length, filled + MEMORY_CHUNK)])
            if not got:
                raise IncompleteReadError(actual_bytes=filled, expected_bytes=length)
            filled += got
            if self._on_bytes is not None:
                self._on_bytes(got)


class FileSink:
    """An open file descriptor; ranges land with ``os.pwrite`` (thread-safe, no shared offset)."""

    def __init__(self, fd: int, on_bytes: Callable[[int], None] | None = None) -> None:
        self.fd = fd
        self._on_bytes = on_bytes

    def fill(self, body: Any, offset: int, length: int) -> None:
        from botocore.exceptions import IncompleteReadError

        buf = bytearray(min(FILE_CHUNK, max(length, 1)))
        view = memoryview(buf)
        done = 0
        while done < length:
            got = body.readinto(view[: min(len(buf), length - done)])
            if not got:
                raise IncompleteReadError(actual_bytes=done, expected_bytes=length)
            written = 0
            while written < got:
                written += os.pwrite(self.fd, view[written:got], offset + done + written)
            done += got
            if self._on_bytes is not None:
                self._on_bytes(got)


class Split:
    """An object's bytes shared out during a download: the open GET reads from the front, ranged
    GETs claim from the back, and they meet wherever the faster side has got to."""

    def __init__(self, size: int) -> None:
        self.front, self.back = 0, size
        self._lock = threading.Lock()

    def left(self) -> int:
        """Bytes nobody has claimed yet."""
        with self._lock:
            return self.back - self.front

    def claim_front(self, most: int) -> tuple[int, int] | None:
        """The next ``(offset, length)`` after the open stream's last claim, or None when all is claimed."""
        with self._lock:
            if self.front >= self.back:
                return None
            start, length = self.front, min(most, self.back - self.front)
            self.front += length
            return start, length

    def claim_back(self, least: int, shares: int) -> tuple[int, int] | None:
        """The last ``1/shares`` of what is left (at least ``least`` bytes, whole MB), or None."""
        with self._lock:
            left = self.back - self.front
            if left <= 0:
                return None
            length = min(left, max(least, math.ceil(left / shares / MB) * MB))
            self.back -= length
            return self.back, length

    def abandon(self) -> None:
        """Nothing more is claimed (a failed download stops its ranged GETs after their current range)."""
        with self._lock:
            self.back = self.front


_POOLS: dict[tuple[str, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools_after_fork() -> None:
    # A forked child (LocalExecutor, multiprocessing) inherits pool objects but not their threads.
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_after_fork)


def shared_pool(kind: str, size: int) -> ThreadPoolExecutor:
    """A process-wide pool per (kind, size), never shut down (the artifact store's backends).

    Sharing cannot deadlock as long as tasks of one kind never wait on tasks of the same kind.
    """
    with _POOLS_LOCK:
        if (kind, size) not in _POOLS:
            _POOLS[kind, size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"ml-s3-{kind}")
        return _POOLS[kind, size]
