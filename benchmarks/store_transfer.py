"""Save + load of 512 MB artifacts through FlowDatastore, local and moto S3, against raw floors.

    .venv/bin/python benchmarks/store_transfer.py [--mb 512] [--repeat 3] [--out results.md]

Payloads: a pandas DataFrame (int64, float64, datetime64, string columns) and a float64 numpy
array, each sized so its serialized form (Arrow IPC / ``.npy``) is ``--mb`` MiB. Per payload, all
in one run, median of ``--repeat``:

  file        raw floor: write the serialized bytes to a file / read them back (``f.read()``)
  store-local FlowDatastore(LocalBackend).save_artifact / load_artifact (value -> value)
  boto3       raw floor: ``put_object(Body=bytes)`` / ``get_object().read()`` of the same bytes
  store-s3    FlowDatastore(S3Backend) with its default thresholds (multipart put, ranged get)
  store-s3-1g the same with ranged GETs off (one GET): moto copies the whole object per range

Every save goes to a fresh root, so content dedup never skips a write. MB/s is serialized MiB
per second; the store rows include (de)serialization, sha256 and the preview, the floors do not,
so the phase timings printed at the end show where the store's extra time goes. The script starts
its own ``moto_server`` (in-memory, single process, sharing the machine's cores with the client).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_ml_provider.datastore.backend import LocalBackend
from airflow_ml_provider.datastore.flow_store import FlowDatastore
from airflow_ml_provider.datastore.preview import make_preview
from airflow_ml_provider.datastore.s3 import MB, S3Backend
from airflow_ml_provider.datastore.serializers import deserialize, serialize
from benchmarks.payloads import make_payload
from tests.fixtures.moto import start_moto_server

HUGE = 1 << 62


def _nbytes(data: bytes | memoryview) -> int:
    return data.nbytes if isinstance(data, memoryview) else len(data)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def measure(repeat: int, put: Callable[[int], Any], get: Callable[[int], Any], clean: Callable[[int], Any]) -> tuple:
    """Median (save, load) seconds; ``clean(i)`` frees repetition i's objects after its load."""
    puts, gets = [], []
    for i in range(repeat):
        puts.append(timed(lambda i=i: put(i)))
        gets.append(timed(lambda i=i: get(i)))
        clean(i)
    return statistics.median(puts), statistics.median(gets)


def bench_payload(name: str, value: Any, repeat: int, s3: dict[str, Any], tmp: Path) -> dict[str, Any]:
    serializer, data = serialize(name, value)
    size = _nbytes(data)
    payload = bytes(data)  # botocore wants bytes; copied once, outside the timings
    rows: dict[str, tuple[float, float]] = {}
    records: dict[int, dict] = {}

    # -- local floor and store
    def file_put(i: int) -> None:
        with open(tmp / f"raw-{i}", "wb") as fh:
            fh.write(data)

    def file_get(i: int) -> bytes:
        with open(tmp / f"raw-{i}", "rb") as fh:
            return fh.read()

    rows["file"] = measure(repeat, file_put, file_get, lambda i: (tmp / f"raw-{i}").unlink())

    def local_store(i: int) -> FlowDatastore:
        return FlowDatastore("Bench", LocalBackend(tmp / f"root-{i}"))

    def local_put(i: int) -> None:
        records[i] = local_store(i).save_artifact(name, value)

    rows["store-local"] = measure(
        repeat, local_put, lambda i: local_store(i).load_artifact(records[i]),
        lambda i: shutil.rmtree(tmp / f"root-{i}"),
    )  # fmt: skip

    # -- S3 floor and store
    client, bucket = s3["client"], s3["bucket"]
    rows["boto3"] = measure(
        repeat,
        lambda i: client.put_object(Bucket=bucket, Key=f"raw/{name}-{i}", Body=payload),
        lambda i: client.get_object(Bucket=bucket, Key=f"raw/{name}-{i}")["Body"].read(),
        lambda i: client.delete_object(Bucket=bucket, Key=f"raw/{name}-{i}"),
    )
    for label, kwargs in (("store-s3", {}), ("store-s3-1get", {"ranged_threshold": HUGE})):

        def s3_store(i: int, kwargs: dict = kwargs, label: str = label) -> FlowDatastore:
            return FlowDatastore("Bench", S3Backend(f"s3://{bucket}/{label}-{i}", client=s3["store_client"], **kwargs))

        def s3_put(i: int, s3_store: Callable = s3_store) -> None:
            records[i] = s3_store(i).save_artifact(name, value)

        def s3_clean(i: int, label: str = label) -> None:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{label}-{i}/"):
                for obj in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=obj["Key"])

        def s3_get(i: int, s3_store: Callable = s3_store) -> Any:
            return s3_store(i).load_artifact(records[i])

        rows[label] = measure(repeat, s3_put, s3_get, s3_clean)

    # -- where the store's time goes (CPU phases, no I/O)
    phases = {
        "serialize": statistics.median(timed(lambda: serialize(name, value)) for _ in range(repeat)),
        "sha256": statistics.median(timed(lambda: hashlib.sha256(data).hexdigest()) for _ in range(repeat)),
        "preview": statistics.median(timed(lambda: make_preview(value, serializer)) for _ in range(repeat)),
        "deserialize": statistics.median(timed(lambda: deserialize(serializer, data)) for _ in range(repeat)),
    }
    return {"name": name, "serializer": serializer, "size": size, "rows": rows, "phases": phases}


def report(results: list[dict[str, Any]], machine: str) -> str:
    lines = [f"Machine: {machine}", ""]
    lines.append("| payload | path | save MB/s | load MB/s | save s | load s | save vs floor | load vs floor |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for res in results:
        mb = res["size"] / MB
        for path, (put, get) in res["rows"].items():
            floor = res["rows"]["file" if path in ("file", "store-local") else "boto3"]
            lines.append(
                f"| {res['name']} ({mb:.0f} MiB {res['serializer']}) | {path} | {mb / put:.0f} | {mb / get:.0f} "
                f"| {put:.2f} | {get:.2f} | {floor[0] / put:.2f}x | {floor[1] / get:.2f}x |"
            )
    lines += ["", "CPU phases inside the store path (seconds, median):", ""]
    lines.append("| payload | serialize | sha256 | preview | deserialize |")
    lines.append("|---|---:|---:|---:|---:|")
    for res in results:
        p = res["phases"]
        lines.append(
            f"| {res['name']} | {p['serialize']:.2f} | {p['sha256']:.2f} | {p['preview']:.3f} "
            f"| {p['deserialize']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["dataframe", "array"], default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this file")
    args = parser.parse_args()

    import boto3
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    machine = (
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"pandas {pd.__version__}, pyarrow {pa.__version__}, numpy {np.__version__}; moto_server on the same machine"
    )
    print(machine, flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="store-bench-", dir=os.environ.get("BENCH_TMP")))
    results = []
    with start_moto_server() as url:

        def make_client() -> Any:
            return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

        s3 = {"client": make_client(), "store_client": None, "bucket": "bench"}
        s3["client"].create_bucket(Bucket="bench")
        from airflow_ml_provider.s3.client import botocore_config

        s3["store_client"] = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                                          aws_access_key_id="testing", aws_secret_access_key="testing",
                                          config=botocore_config(12))  # fmt: skip
        try:
            payloads = {"dataframe": "dataframe", "array": "ndarray"}
            for name, kind in payloads.items():
                if args.only and name != args.only:
                    continue
                started = time.perf_counter()
                value = make_payload(kind, args.mb)
                print(f"built {name} in {time.perf_counter() - started:.1f}s", flush=True)
                results.append(bench_payload(name, value, args.repeat, s3, tmp))
                del value
                print(report(results[-1:], machine).split("\n", 2)[2], flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    text = report(results, machine)
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
