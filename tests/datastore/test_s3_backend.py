"""S3Backend against a real moto_server over HTTP (plus a fault-injecting proxy in front of it)."""

from __future__ import annotations

import os
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from airflow_ml_provider.datastore.backend import LocalBackend, get_backend
from airflow_ml_provider.datastore.flow_store import FlowDatastore
from airflow_ml_provider.datastore.s3 import MB, S3Backend, S3StoreError

SMALL = {"multipart_threshold": 5 * MB, "part_size": 5 * MB, "ranged_threshold": 5 * MB, "range_size": 4 * MB}


def test_get_backend_picks_s3(bucket: str) -> None:
    backend = get_backend(f"s3://{bucket}/a/b/")
    assert isinstance(backend, S3Backend)
    assert (backend.bucket, backend.prefix, backend.describe()) == (bucket, "a/b", f"s3://{bucket}/a/b")
    with pytest.raises(ValueError):
        S3Backend("s3:///nobucket")
    with pytest.raises(ValueError, match="clean relative key"):
        backend.read("x/../y")


def test_small_object_methods(bucket: str, raw_s3) -> None:
    backend = S3Backend(f"s3://{bucket}/root")
    backend.write("a/one.json", b'{"x": 1}')
    backend.write("a/view.bin", memoryview(bytearray(b"abc")))
    backend.write("empty", b"")
    assert backend.read("a/one.json") == b'{"x": 1}'
    assert bytes(backend.read("a/view.bin")) == b"abc"
    assert backend.read("empty") == b""
    assert raw_s3.get_object(Bucket=bucket, Key="root/a/one.json")["Body"].read() == b'{"x": 1}'
    assert backend.exists("a/one.json") and not backend.exists("a/nope")
    assert backend.size("a/one.json") == 8 and backend.size("empty") == 0
    backend.write("a/one.json", b"replaced")
    assert backend.read("a/one.json") == b"replaced"
    with pytest.raises(FileNotFoundError, match=f"s3://{bucket}/root/a/nope"):
        backend.read("a/nope")
    with pytest.raises(FileNotFoundError):
        backend.size("a/nope")


def test_list_dir(bucket: str, raw_s3) -> None:
    backend = S3Backend(f"s3://{bucket}/pre")
    for path in ("a/b/c.txt", "a/x.txt", "a/y/z.txt", "top.txt"):
        backend.write(path, b"1")
    raw_s3.put_object(Bucket=bucket, Key="prefix-sibling/a.txt", Body=b"not ours")
    raw_s3.put_object(Bucket=bucket, Key="pre-2/a.txt", Body=b"not ours")
    assert backend.list_dir("") == ["a", "top.txt"]
    assert backend.list_dir("a") == ["b", "x.txt", "y"]
    assert backend.list_dir("a/") == ["b", "x.txt", "y"]
    assert backend.list_dir("missing") == []
    assert S3Backend(f"s3://{bucket}").list_dir("") == ["pre", "pre-2", "prefix-sibling"]


def test_list_dir_paginates(fault_proxy, bucket: str, raw_s3) -> None:
    names = [f"f{i:04d}" for i in range(1050)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: raw_s3.put_object(Bucket=bucket, Key=f"many/{n}", Body=b""), names))
    listed = S3Backend(f"s3://{bucket}/many").list_dir("")
    assert listed == names
    pages = [p for m, p in fault_proxy.requests if m == "GET" and "list-type=2" in p]
    assert len(pages) == 2  # 1000 keys per page


def test_large_object_is_multipart_and_ranged(bucket: str, raw_s3) -> None:
    data = np.random.default_rng(0).integers(0, 255, 65 * MB, dtype=np.uint8).tobytes()
    backend = S3Backend(f"s3://{bucket}/big")  # default thresholds: 64 MB
    backend.write("obj", memoryview(data))
    head = raw_s3.head_object(Bucket=bucket, Key="big/obj")
    assert head["ETag"].strip('"').endswith("-5")  # 65 MB in 16 MB parts
    assert head["ContentLength"] == len(data)
    out = backend.read("obj")
    assert isinstance(out, memoryview) and out.nbytes == len(data)  # ranged path: one bytearray
    assert out == memoryview(data)
    assert backend.size("obj") == len(data)


def test_small_object_is_single_put(fault_proxy, bucket: str, raw_s3) -> None:
    backend = S3Backend(f"s3://{bucket}/p")
    backend.write("k", b"x" * (MB))
    assert [m for m, p in fault_proxy.requests] == ["PUT"]
    assert "-" not in raw_s3.head_object(Bucket=bucket, Key="p/k")["ETag"]
    backend.read("k")
    assert [m for m, p in fault_proxy.requests] == ["PUT", "GET"]


def _values() -> dict[str, object]:
    rng = np.random.default_rng(1)
    return {
        "df": pd.DataFrame({"a": rng.normal(size=1000), "b": [f"s{i}" for i in range(1000)]}),
        "arr": rng.normal(size=(300, 40)),
        "obj": {"nested": [1, 2, (3, 4)], "text": "héllo"},
    }


def _equal(a: object, b: object) -> bool:
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_flow_datastore_round_trip_equals_local(tmp_path, bucket: str) -> None:
    local = FlowDatastore("Demo", LocalBackend(tmp_path))
    remote = FlowDatastore("Demo", S3Backend(f"s3://{bucket}/store"))
    for store in (local, remote):
        records = {name: store.save_artifact(name, value) for name, value in _values().items()}
        store.create_run("r1", {"flow_name": "Demo", "run_id": "r1"})
        store.mark_started("r1", "start", "0", 0, {"step": "start"})
        store.write_attempt("r1", "start", "0", 0, {"status": "success", "artifacts": records})
        store.write_attempt("r1", "train", "3", 1, {"status": "failed"})
    for name, value in _values().items():
        s3_record = remote.latest_attempt("r1", "start", "0")["artifacts"][name]
        local_record = local.latest_attempt("r1", "start", "0")["artifacts"][name]
        assert s3_record == local_record  # same content key, serializer, preview
        assert _equal(remote.load_artifact(s3_record), value)
    assert remote.run_ids() == local.run_ids() == ["r1"]
    assert remote.step_names("r1") == local.step_names("r1") == ["start", "train"]
    assert remote.attempts("r1", "start", "0") == local.attempts("r1", "start", "0") == [0]
    assert remote.read_run("r1") == local.read_run("r1")
    assert remote.latest_attempt("r1", "train", "3") is None
    assert remote.read_run("missing") is None


def test_dedup_second_put_writes_nothing(fault_proxy, bucket: str) -> None:
    store = FlowDatastore("Dedup", S3Backend(f"s3://{bucket}/store"))
    df = _values()["df"]
    assert store.save_artifact("df", df)["written"] is True
    assert fault_proxy.count("PUT") == 1
    fault_proxy.requests.clear()
    again = store.save_artifact("df_copy", df.copy())
    assert again["written"] is False
    assert fault_proxy.count("PUT") == 0
    assert [m for m, _ in fault_proxy.requests] == ["HEAD"]  # one existence check, nothing else


def test_transient_errors_are_retried(fault_proxy, bucket: str) -> None:
    backend = S3Backend(f"s3://{bucket}/t")
    fault_proxy.fail("500", times=2, match=lambda m, p: m == "PUT")
    fault_proxy.fail("reset", times=1, match=lambda m, p: m == "HEAD")
    backend.write("k", b"payload")
    assert backend.exists("k")
    fault_proxy.fail("503", times=1, match=lambda m, p: m == "GET")
    fault_proxy.fail("midstream", times=1, match=lambda m, p: m == "GET")
    assert backend.read("k") == b"payload"
    assert [f[0] for f in fault_proxy.injected] == ["500", "500", "reset", "503", "midstream"]


def test_midstream_reset_during_ranged_download(fault_proxy, bucket: str, raw_s3) -> None:
    data = os.urandom(14 * MB)
    raw_s3.put_object(Bucket=bucket, Key="r/big", Body=data)
    backend = S3Backend(f"s3://{bucket}/r", **SMALL)
    fault_proxy.fail("midstream", times=3, match=lambda m, p: m == "GET")  # first GET and two ranges
    assert backend.read("big") == memoryview(data)
    assert len(fault_proxy.injected) == 3


def test_multipart_survives_transient_part_errors(fault_proxy, bucket: str) -> None:
    data = os.urandom(12 * MB)
    backend = S3Backend(f"s3://{bucket}/m", **SMALL)
    fault_proxy.fail("500", times=1, match=lambda m, p: m == "PUT" and "partNumber=2" in p)
    fault_proxy.fail("reset", times=1, match=lambda m, p: m == "PUT" and "partNumber=3" in p)
    backend.write("obj", data)
    assert bytes(backend.read("obj")) == data
    assert len(fault_proxy.injected) == 2


def test_failed_multipart_upload_leaves_no_object(fault_proxy, bucket: str, raw_s3) -> None:
    backend = S3Backend(f"s3://{bucket}/m", **SMALL)
    fault_proxy.fail("400", times=99, match=lambda m, p: m == "PUT" and "partNumber=2" in p)
    with pytest.raises(S3StoreError, match="BadDigest"):
        backend.write("obj", os.urandom(12 * MB))
    assert not backend.exists("obj")
    assert raw_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # aborted
    fault_proxy.faults.clear()
    backend.write("obj", b"rerun works")
    assert backend.read("obj") == b"rerun works"


def test_failed_single_put_leaves_no_object(fault_proxy, bucket: str) -> None:
    backend = S3Backend(f"s3://{bucket}/s")
    fault_proxy.fail("400", times=99, match=lambda m, p: m == "PUT")
    with pytest.raises(S3StoreError):
        backend.write("obj", b"x" * 1000)
    assert not backend.exists("obj")


def test_clear_errors(fault_proxy, bucket: str) -> None:
    missing = S3Backend("s3://no-such-bucket-here/pre")
    for call in (lambda: missing.write("a", b"x"), lambda: missing.read("a"), lambda: missing.list_dir("")):
        with pytest.raises(S3StoreError, match="bucket 'no-such-bucket-here' does not exist") as info:
            call()
        assert "s3://no-such-bucket-here/pre" in str(info.value) and "\n" not in str(info.value)
    denied = S3Backend(f"s3://{bucket}/secret")
    fault_proxy.fail("403", times=99)
    with pytest.raises(S3StoreError, match=f"access denied .*s3://{bucket}/secret/k") as info:
        denied.read("k")
    assert "\n" not in str(info.value)


def test_backend_pickles(bucket: str) -> None:
    backend = S3Backend(f"s3://{bucket}/p")
    backend.write("k", b"v")
    clone = pickle.loads(pickle.dumps(backend))
    assert clone.read("k") == b"v" and clone.root == backend.root


def _read_in_child(backend: S3Backend, expected: int, queue) -> None:
    queue.put(backend.read("obj").nbytes == expected)


def test_usable_after_fork(bucket: str) -> None:
    """LocalExecutor forks: the child must not reuse the parent's pool threads or sockets."""
    import multiprocessing

    backend = S3Backend(f"s3://{bucket}/fork", **SMALL)
    data = os.urandom(12 * MB)
    backend.write("obj", data)
    assert backend.read("obj") == memoryview(data)  # parent now has a client and pool threads
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(backend, len(data), queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5) is True


def test_unreachable_endpoint_is_one_clear_line(bucket: str) -> None:
    import boto3
    from botocore.config import Config

    from tests.fixtures.moto import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    client = boto3.client("s3", endpoint_url=dead, config=Config(retries={"max_attempts": 1}))
    backend = S3Backend(f"s3://{bucket}/p", client=client)
    with pytest.raises(S3StoreError, match=f"cannot reach the S3 endpoint {dead}.* s3://{bucket}/p"):
        backend.read("k")
