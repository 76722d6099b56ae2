"""Large reads: the first GET's stream reads from the front, ranged GETs join from the back only
when that stream is slow (moto_server over HTTP, a fault-injecting proxy in front of it)."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
from pathlib import Path

from airflow_ml_provider.data import S3
from airflow_ml_provider.datastore.s3 import MB, S3Backend
from airflow_ml_provider.s3.primitives import Split

SMALL = {"multipart_threshold": 5 * MB, "part_size": 5 * MB, "ranged_threshold": 5 * MB, "range_size": 2 * MB}
SIZE = 12 * MB


def _put(raw_s3, bucket: str, key: str) -> bytes:
    data = os.urandom(SIZE)
    raw_s3.put_object(Bucket=bucket, Key=key, Body=data)
    return data


def test_a_stream_that_keeps_pace_reads_the_object_alone(fault_proxy, bucket: str, raw_s3) -> None:
    data = _put(raw_s3, bucket, "p/big")
    backend = S3Backend(f"s3://{bucket}/p", **SMALL, fan_out_after=3600)  # never "too slow"
    assert backend.read("big") == memoryview(data)
    assert fault_proxy.count("GET") == 1 and fault_proxy.ranges == []


def test_a_slow_stream_is_helped_by_ranged_gets_from_the_back(fault_proxy, bucket: str, raw_s3) -> None:
    """The first GET trickles at 1 MB/s: after the probe the rest would take 11 s, far over 0.5 s."""
    data = _put(raw_s3, bucket, "p/big")
    backend = S3Backend(f"s3://{bucket}/p", **SMALL)  # the default fan_out_after
    fault_proxy.fail("slow", times=1, match=lambda m, p: m == "GET")
    assert backend.read("big") == memoryview(data)
    spans = fault_proxy.ranges
    assert spans, "no ranged GET helped the slow stream"
    assert max(last for _, last in spans) == SIZE - 1  # the helpers started at the back
    assert min(first for first, _ in spans) >= 1 * MB  # the stream's own first claim stayed its own
    assert sum(last - first + 1 for first, last in spans) < SIZE  # the stream read its part, not nothing


def test_fan_out_after_zero_always_uses_ranges(fault_proxy, bucket: str, raw_s3, tmp_path: Path) -> None:
    data = _put(raw_s3, bucket, "p/big")
    backend = S3Backend(f"s3://{bucket}/p", **SMALL, fan_out_after=0)
    assert backend.read("big") == memoryview(data)
    assert fault_proxy.ranges, "fan_out_after=0 read the whole object in one stream"
    fault_proxy.ranges.clear()
    with S3(s3root=f"s3://{bucket}/p", **SMALL, fan_out_after=0) as s3:  # the data client, into a file
        got = s3.get("big")
        assert hashlib.sha256(Path(got.path).read_bytes()).digest() == hashlib.sha256(data).digest()
    assert fault_proxy.ranges


def test_a_slow_stream_into_a_file_with_a_range_cut_midstream(fault_proxy, bucket: str, raw_s3) -> None:
    """The data client's download path: a slow first stream, and a helper whose body breaks is re-fetched."""
    data = _put(raw_s3, bucket, "p/big")
    fault_proxy.fail("slow", times=1, match=lambda m, p: m == "GET" and "big" in p)
    fault_proxy.fail("midstream", times=1, match=lambda m, p: m == "GET" and "big" in p)
    with S3(s3root=f"s3://{bucket}/p", **SMALL) as s3:
        got = s3.get("big")
        assert got.size == SIZE
        assert hashlib.sha256(Path(got.path).read_bytes()).digest() == hashlib.sha256(data).digest()
    assert [mode for mode, _, _ in fault_proxy.injected] == ["slow", "midstream"]
    spans = fault_proxy.ranges
    assert len(spans) > len(set(spans))  # the range cut mid-body was asked for again


def test_claims_from_both_ends_never_overlap_and_cover_everything() -> None:
    size = 37 * MB + 12345
    split = Split(size)
    claims: list[tuple[int, int]] = []
    lock = threading.Lock()

    def take(front: bool) -> None:
        while True:
            claim = split.claim_front(random.choice([1, 4096, MB])) if front else split.claim_back(2 * MB, 4)
            if claim is None:
                return
            with lock:
                claims.append(claim)

    threads = [threading.Thread(target=take, args=(i == 0,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claims.sort()
    assert claims[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(claims))  # no gap, no overlap
    assert claims[-1][0] + claims[-1][1] == size
    assert split.left() == 0 and split.claim_front(1) is None and split.claim_back(1, 1) is None


def test_a_failed_helper_stops_the_others_after_their_current_range() -> None:
    split = Split(100 * MB)
    first = split.claim_back(MB, 10)
    assert first == (90 * MB, 10 * MB)  # a tenth of what is left, in whole MB
    split.abandon()
    assert split.claim_back(MB, 10) is None and split.claim_front(MB) is None
