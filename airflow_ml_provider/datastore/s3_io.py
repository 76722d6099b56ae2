"""Request-level S3 primitives shared by the artifact store and the data client.

Both :mod:`airflow_ml_provider.datastore.s3` (artifacts) and :mod:`airflow_ml_provider.data.transfer`
(the ``S3`` client for steps) upload large objects, retry broken response bodies and gather
concurrent results the same way; this module is that one way.

Multipart uploads
    Each part is whatever ``read_part(start, length)`` returns: a zero-copy ``memoryview`` slice
    of an in-memory value, or one ``os.pread`` of a local file (one part per worker in RAM; a file
    is not memory-mapped because a file truncated by another process mid-upload would kill the
    step with SIGBUS instead of raising an error). Each part carries a
    CRC32 checksum that S3 verifies, and the upload is created with ``ChecksumAlgorithm=CRC32`` so
    S3 stores a composite checksum for the whole object (what boto3's own transfer manager does
    with botocore's default ``when_supported`` checksums). The object appears only on
    ``CompleteMultipartUpload``; any failure aborts the upload, so a failed write leaves no object.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from typing import Any, TypeVar

log = logging.getLogger("airflow_ml_provider.datastore.s3")
T = TypeVar("T")

MB = 1 << 20
STREAM_ATTEMPTS = 4  # our attempts per GET whose body broke mid-stream
MAX_PARTS = 10_000  # S3's limit per multipart upload
MIN_PART_SIZE = 5 * MB  # S3's minimum for every part but the last


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


def error_kind(exc: Any) -> tuple[str, str]:
    """``(kind, code)`` of a botocore ``ClientError``: kind is no_bucket, not_found, denied or other.

    One classification for the artifact store and the data client, which raise their own error
    types from it; ``code`` is S3's error code, or the HTTP status when there is none (HEAD).
    """
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    label = code or str(status)
    if code == "NoSuchBucket":
        return "no_bucket", label
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return "not_found", label
    if status == 403 or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return "denied", label
    return "other", label


def retry_stream(what: str, fn: Callable[[], T]) -> T:
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
