"""``S3`` against a real moto_server over HTTP: every method, missing keys, scale, large objects, faults."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_ml_provider import S3
from airflow_ml_provider.data.s3 import S3Error, S3NotFound, S3PutObject, S3URLError
from airflow_ml_provider.data.sharding import shard

MB = 1 << 20


def test_put_get_and_object_fields(bucket: str) -> None:
    root = f"s3://{bucket}/p"
    with S3(s3root=root) as s3:
        url = s3.put("a/hello.txt", "héllo", content_type="text/plain", metadata={"owner": "me"})
        assert url == f"{root}/a/hello.txt"
        obj = s3.get("a/hello.txt")
        assert (obj.key, obj.url, obj.exists, obj.size) == ("a/hello.txt", url, True, len("héllo".encode()))
        assert obj.text == "héllo" and obj.blob == "héllo".encode()
        assert obj.content_type == "text/plain" and obj.metadata == {"owner": "me"}
        assert Path(obj.path).read_bytes() == obj.blob and obj.downloaded
        assert s3.put("raw", b"\x00\x01") and s3.get("raw").blob == b"\x00\x01"
        with open(__file__, "rb") as f:  # a readable file object
            s3.put("self.py", f)
        assert s3.get("self.py").blob == Path(__file__).read_bytes()


def test_missing_keys(bucket: str) -> None:
    with S3(s3root=f"s3://{bucket}/p") as s3:
        with pytest.raises(S3NotFound, match=rf"s3://{bucket}/p/nope does not exist"):
            s3.get("nope")
        with pytest.raises(FileNotFoundError):
            s3.info("nope")
        missing = s3.get("nope", return_missing=True)
        assert missing.exists is False and missing.path is None and missing.blob is None
        s3.put("yes", "1")
        got = s3.get_many(["yes", "nope"], return_missing=True)
        assert [o.exists for o in got] == [True, False]
        with pytest.raises(S3NotFound, match="nope"):
            s3.get_many(["yes", "nope"])
        assert [o.exists for o in s3.info_many(["nope", "yes"], return_missing=True)] == [False, True]
    with S3() as s3, pytest.raises(S3NotFound, match="bucket does not exist"):
        s3.get("s3://no-such-bucket-xyz/k")


def test_url_rules(bucket: str) -> None:
    with S3() as s3:
        s3.put(f"s3://{bucket}/full/url", "x")
        assert s3.get(f"s3://{bucket}/full/url").key == f"s3://{bucket}/full/url"
        with pytest.raises(S3URLError, match="full s3:// URLs"):
            s3.get("relative/key")
    with S3(s3root=f"s3://{bucket}/r") as s3, pytest.raises(S3URLError, match="relative"):
        s3.get(f"s3://{bucket}/full/url")
    with pytest.raises(S3URLError, match="run= or s3root="):
        S3(s3root=f"s3://{bucket}", run=object())
    with pytest.raises(S3URLError, match="running step"):
        S3(run=object())  # outside a step and not a client Run


def test_put_many_put_files_get_many_and_overwrite(bucket: str, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(os.urandom(1000 + i))
        files.append((f"files/f{i}.bin", str(path)))
    with S3(s3root=f"s3://{bucket}/p") as s3:
        pairs = s3.put_many([("m/a", "A"), ("m/b", b"B"), S3PutObject("m/c", "C", content_type="text/csv")])
        assert pairs == [(k, f"s3://{bucket}/p/{k}") for k in ("m/a", "m/b", "m/c")]
        assert [k for k, _ in s3.put_files(files)] == [k for k, _ in files]
        got = s3.get_many(["m/c", "m/a", "m/b", *[k for k, _ in files]])
        assert [o.blob for o in got[:3]] == [b"C", b"A", b"B"]
        assert got[0].content_type == "text/csv"
        assert [o.blob for o in got[3:]] == [Path(p).read_bytes() for _, p in files]
        assert s3.put("m/a", "changed", overwrite=False) == f"s3://{bucket}/p/m/a"
        assert s3.get("m/a").text == "A"
        # overwrite=False returns only what it stored, as metaflow.S3 does
        assert s3.put_many([("m/a", "changed"), ("m/new", "n")], overwrite=False) == [
            ("m/new", f"s3://{bucket}/p/m/new")
        ]
        assert s3.put_files(files[:1], overwrite=False) == []
        s3.put_many([("m/a", "changed")], overwrite=True)
        assert s3.get("m/a").text == "changed"
        with pytest.raises(FileNotFoundError, match="no local file"):
            s3.put_files([("x", str(tmp_path / "absent"))])


def test_listing_info_recursive_and_all(bucket: str) -> None:
    with S3(s3root=f"s3://{bucket}/tree") as s3:
        s3.put_many(
            [("a/0.txt", "0"), ("a/b/1.txt", "11"), ("a/c/2.txt", "222"), ("a/d/e/3.txt", "3333"), ("f/4.txt", "4")]
        )
        level = {(o.key, o.exists) for o in s3.list_paths(["a", "f"])}
        assert level == {("a/0.txt", True), ("a/b", False), ("a/c", False), ("a/d", False), ("f/4.txt", True)}
        assert {(o.key, o.exists) for o in s3.list_paths()} == {("a", False), ("f", False)}
        rec = s3.list_recursive(["a"])
        assert sorted((o.key, o.size) for o in rec) == [
            ("a/0.txt", 1), ("a/b/1.txt", 2), ("a/c/2.txt", 3), ("a/d/e/3.txt", 4),
        ]  # fmt: skip
        assert all(o.path is None for o in rec)
        info = s3.info("a/c/2.txt")
        assert (info.size, info.exists, info.path) == (3, True, None)
        assert [o.size for o in s3.info_many(["a/0.txt", "f/4.txt"])] == [1, 1]
        assert sorted(o.text for o in s3.get_recursive(["a/b", "a/d"])) == ["11", "3333"]
        assert sorted(o.key for o in s3.get_all()) == ["a/0.txt", "a/b/1.txt", "a/c/2.txt", "a/d/e/3.txt", "f/4.txt"]


def test_thousand_small_objects(bucket: str) -> None:
    payload = {f"small/{i:04d}": os.urandom(256 + i) for i in range(1000)}
    with S3(s3root=f"s3://{bucket}") as s3:
        s3.put_many(list(payload.items()))
        assert len(s3.list_recursive(["small"])) == 1000
        got = s3.get_many(list(payload))
        assert [o.key for o in got] == list(payload)
        assert all(o.blob == payload[o.key] for o in got)
        assert len(os.listdir(os.path.dirname(got[0].path))) == 1000  # one file each, nothing in RAM


def test_object_above_multipart_and_ranged_thresholds(bucket: str, raw_s3, tmp_path: Path) -> None:
    """70 MB with the default thresholds (64 MB): a multipart upload and a ranged download."""
    big = tmp_path / "big.bin"
    data = os.urandom(70 * MB)
    big.write_bytes(data)
    with S3(s3root=f"s3://{bucket}") as s3:
        s3.put_files([("big.bin", str(big))])
        head = raw_s3.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
        assert head["ETag"].strip('"').endswith("-5")  # 5 parts of 16 MB: it was a multipart upload
        # S3 checked every part's CRC32 and keeps a composite checksum of the object.
        assert head["ChecksumCRC32"] and head.get("ChecksumType", "COMPOSITE") == "COMPOSITE"
        assert big.read_bytes() == data  # the file was only mapped for reading, not changed
        obj = s3.get("big.bin")
        assert obj.size == len(data)
        assert hashlib.sha256(Path(obj.path).read_bytes()).digest() == hashlib.sha256(data).digest()
        s3.put("frommem.bin", data)  # bytes above the threshold: multipart from memory
        assert raw_s3.head_object(Bucket=bucket, Key="frommem.bin")["ETag"].strip('"').endswith("-5")


def test_ranged_download_requests_and_midstream_retry(bucket: str, fault_proxy, tmp_path: Path) -> None:
    """Small thresholds through the proxy: a first stream that breaks hands the rest to ranged GETs,
    and a range cut mid-body is fetched again."""
    data = os.urandom(12 * MB)
    opts = {"ranged_threshold": 4 * MB, "range_size": 3 * MB, "multipart_threshold": 5 * MB, "part_size": 5 * MB}
    with S3(s3root=f"s3://{bucket}", **opts, fan_out_after=3600) as s3:  # only the break makes it fan out
        s3.put("r.bin", data)
        assert fault_proxy.count("POST") == 2  # create + complete multipart upload
        fault_proxy.requests.clear()
        # The first (plain) GET is cut after half its body (a reset, so the client keeps what it
        # had read before it saw the reset); the 1 MB it was reading is fetched by range (cut
        # mid-body too, then refused once with a 503: three GETs), the rest by ranged GETs from
        # the back.
        fault_proxy.fail("midstream", times=2, match=lambda m, p: m == "GET" and "r.bin" in p)
        fault_proxy.fail("503", times=1, match=lambda m, p: m == "GET" and "r.bin" in p)
        assert s3.get("r.bin").blob == data
    gets = [p for m, p in fault_proxy.requests if m == "GET" and "r.bin" in p]
    bounds = sorted(set(fault_proxy.ranges))
    assert len(gets) == 1 + len(bounds) + 2
    assert bounds[-1][1] == 12 * MB - 1 and bounds[0][0] <= 6 * MB  # the ranges took over where the stream broke
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(bounds))  # and cover the rest once
    assert [mode for mode, _, _ in fault_proxy.injected] == ["midstream", "midstream", "503"]


def test_transient_errors_absorbed(bucket: str, fault_proxy) -> None:
    with S3(s3root=f"s3://{bucket}") as s3:
        fault_proxy.fail("503", times=2, match=lambda m, p: m == "PUT")
        fault_proxy.fail("reset", times=1, match=lambda m, p: m == "PUT")
        s3.put_many([(f"k{i}", f"v{i}") for i in range(20)])
        fault_proxy.fail("midstream", times=3, match=lambda m, p: m == "GET")
        fault_proxy.fail("500", times=2, match=lambda m, p: m == "HEAD")
        assert [o.text for o in s3.get_many([f"k{i}" for i in range(20)])] == [f"v{i}" for i in range(20)]
        assert s3.info("k3").exists  # (the fault_proxy rewrites a HEAD's Content-Length to 0: no size check)
    assert sorted(mode for mode, _, _ in fault_proxy.injected) == sorted(
        ["503", "503", "reset", "midstream"] * 1 + ["midstream"] * 2 + ["500"] * 2
    )


def test_multipart_part_failures_retried_and_a_refused_upload_leaves_nothing(
    bucket: str, fault_proxy, raw_s3, tmp_path: Path
) -> None:
    """A part cut off or refused with 503 is sent again (its body rewound); a 403 aborts the upload."""
    data = os.urandom(12 * MB)
    src = tmp_path / "parts.bin"
    src.write_bytes(data)
    opts = {"multipart_threshold": 5 * MB, "part_size": 5 * MB}
    is_part = lambda m, p: m == "PUT" and "partNumber=" in p  # noqa: E731
    with S3(s3root=f"s3://{bucket}", **opts) as s3:
        fault_proxy.fail("reset", times=1, match=lambda m, p: is_part(m, p) and "partNumber=2" in p)
        fault_proxy.fail("503", times=1, match=lambda m, p: is_part(m, p) and "partNumber=3" in p)
        s3.put_files([("ok.bin", str(src))])
        assert sorted(mode for mode, _, _ in fault_proxy.injected) == ["503", "reset"]  # parts run concurrently
        assert sum(1 for m, p in fault_proxy.requests if is_part(m, p)) == 3 + 2
        assert s3.get("ok.bin").blob == data

        fault_proxy.fail("403", times=1, match=lambda m, p: is_part(m, p) and "partNumber=2" in p)
        with pytest.raises(PermissionError, match=rf"access denied .* s3://{bucket}/refused.bin"):
            s3.put_files([("refused.bin", str(src))])
        assert not s3.info("refused.bin", return_missing=True).exists
    assert raw_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # aborted, no parts kept


def test_a_file_that_shrinks_mid_upload_fails_clearly(bucket: str, fault_proxy, raw_s3, tmp_path: Path) -> None:
    """Another process truncates the file while its parts go up: an error naming it, no object."""
    src = tmp_path / "shrinks.bin"
    src.write_bytes(os.urandom(12 * MB))

    def truncate_on_first_part(method: str, path: str) -> bool:
        if method == "PUT" and "partNumber=1" in path:
            os.truncate(src, 6 * MB)
        return False  # never inject a fault: only observe

    fault_proxy.fail("500", times=1, match=truncate_on_first_part)
    opts = {"multipart_threshold": 5 * MB, "part_size": 5 * MB}
    with S3(s3root=f"s3://{bucket}", max_workers=1, **opts) as s3:  # one worker: part 2 is read after part 1 went
        with pytest.raises(OSError, match=rf"s3://{bucket}/shrinks.bin: the source changed size during the upload"):
            s3.put_files([("shrinks.bin", str(src))])
        assert not s3.info("shrinks.bin", return_missing=True).exists
    assert raw_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_access_denied_is_not_retried_forever(bucket: str, fault_proxy) -> None:
    fault_proxy.fail("403", times=1, match=lambda m, p: m == "GET")
    with S3(s3root=f"s3://{bucket}") as s3:
        s3.put("k", "v")
        with pytest.raises(PermissionError, match=rf"access denied .* s3://{bucket}/k"):
            s3.get("k")


def test_temp_files_removed_on_exit(bucket: str) -> None:
    with S3(s3root=f"s3://{bucket}") as s3:
        s3.put_many([("a", "1"), ("b", "2")])
        paths = [o.path for o in s3.get_many(["a", "b"])]
        folder = os.path.dirname(paths[0])
        assert all(os.path.exists(p) for p in paths)
    assert not os.path.exists(folder)
    s3 = S3(s3root=f"s3://{bucket}")
    path = s3.get("a").path
    s3.close()
    assert not os.path.exists(path)


def test_progress_lines_in_the_log(bucket: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="airflow_ml_provider.data.s3")
    with S3(s3root=f"s3://{bucket}", progress_interval=0) as s3:
        s3.put_many([(f"k{i}", os.urandom(10_000)) for i in range(5)])
        s3.get_many([f"k{i}" for i in range(5)])
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("S3 get: 5/5 objects") and "MB/s" in line for line in lines), lines
    assert any(line.startswith("S3 put: ") for line in lines)


def test_import_is_light() -> None:
    code = (
        "import sys, airflow_ml_provider as m; m.__getattr__; print('boto3' in sys.modules, 'pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    code = "import sys; from airflow_ml_provider import S3; from airflow_ml_provider.data import shard; "
    code += "print('pyarrow' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_shard_balances_by_size_and_covers_everything() -> None:
    files = [(f"s3://b/f{i:02d}", size) for i, size in enumerate([100, 90, 80, 10, 10, 10, 5, 5, 5, 5, 1, 1])]
    parts = [shard(files, 3, i) for i in range(3)]
    assert sorted(x for p in parts for x in p) == sorted(files)
    loads = [sum(s for _, s in p) for p in parts]
    assert max(loads) - min(loads) <= 10, loads
    assert parts == [shard(list(reversed(files)), 3, i)[::-1] for i in range(3)] or all(
        set(p) == set(shard(list(reversed(files)), 3, i)) for i, p in enumerate(parts)
    )  # deterministic whatever the listing order
    urls = [f"s3://b/u{i}" for i in range(10)]
    assert [len(shard(urls, 4, i)) for i in range(4)] == [3, 3, 2, 2]
    assert shard(urls, 1, 0) == urls
    with pytest.raises(ValueError):
        shard(urls, 2, 2)


def test_metaflow_habits_without_a_with_block_and_object_keys_in_get_recursive(bucket: str) -> None:
    """Code written for metaflow.S3 that leans on its lenient parts."""
    with S3(s3root=f"s3://{bucket}/habits") as s3:
        s3.put_many([("data.csv", "a,b"), ("dir/x", "1"), ("dir/y", "2")])
    # No `with`: the downloaded file outlives the expression that made the client.
    assert S3().get(f"s3://{bucket}/habits/data.csv").text == "a,b"
    assert [o.text for o in S3(s3root=f"s3://{bucket}/habits").get_many(["dir/x", "dir/y"])] == ["1", "2"]
    with S3(s3root=f"s3://{bucket}/habits") as s3:
        assert [o.key for o in s3.get_recursive(["data.csv", "dir"])] == ["data.csv", "dir/x", "dir/y"]
        # S3 itself refuses non-ASCII metadata: an S3Error naming the URL, not a botocore error.
        with pytest.raises(S3Error, match=rf"(?s)s3://{bucket}/habits/m: .*Non ascii"):
            s3.put("m", "x", metadata={"note": "café"})
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['role'\]"):
        S3(s3root=f"s3://{bucket}", role="arn:aws:iam::123:role/x")
