"""Benchmark: ``airflow_ml_provider.S3`` vs a plain boto3 loop vs ``metaflow.S3``, one moto_server.

Rows: 1000 x 1 MB and 4 x 256 MB objects, get and put. Every client produces the same result: a get
leaves every object in a local file (the boto3 loop streams ``get_object`` bodies into files, as
the two S3 clients do), a put uploads from memory (small rows) or from local files (large rows:
``put_files`` / ``put_object(Body=file)``). Medians of ``--reps`` runs, all against the same
endpoint in one process run. ``metaflow`` is installed for this comparison only
(``uv pip install metaflow``); it talks to moto through ``METAFLOW_S3_ENDPOINT_URL``.

    .venv/bin/python benchmarks/s3_client.py [--reps 3] [--small 1000] [--large 4] [--large-mb 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MB = 1 << 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--large-mb", type=int, default=256)
    ap.add_argument("--clients", default="ours,boto3,metaflow")
    args = ap.parse_args()

    from tests.fixtures.moto import start_moto_server

    with start_moto_server() as endpoint:
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL_S3=endpoint, METAFLOW_S3_ENDPOINT_URL=endpoint,
            METAFLOW_HOME=tempfile.mkdtemp(prefix="mf-home-"),  # no user config
        )  # fmt: skip
        run(args, endpoint)


def run(args: argparse.Namespace, endpoint: str) -> None:
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket="bench")
    work = Path(tempfile.mkdtemp(prefix="s3bench-"))
    small = {f"small/{i:04d}": os.urandom(MB) for i in range(args.small)}
    large_files = []
    for i in range(args.large):
        path = work / f"large{i}.bin"
        with open(path, "wb") as f:
            for _ in range(args.large_mb):
                f.write(os.urandom(MB))
        large_files.append((f"large/{i}.bin", str(path)))
    large_keys = [k for k, _ in large_files]
    for key, data in small.items():  # seed once so every get row reads existing objects
        client.put_object(Bucket="bench", Key=key, Body=data)
    for key, path in large_files:
        client.upload_file(path, "bench", key)

    clients = args.clients.split(",")
    impls = {name: IMPLS[name](client) for name in clients}
    rows = [
        (f"get {args.small} x 1 MB", args.small * MB, lambda c: c.get(list(small))),
        (f"put {args.small} x 1 MB", args.small * MB, lambda c: c.put(list(small.items()))),
        (f"get {args.large} x {args.large_mb} MB", args.large * args.large_mb * MB, lambda c: c.get(large_keys)),
        (f"put {args.large} x {args.large_mb} MB", args.large * args.large_mb * MB, lambda c: c.put_files(large_files)),
    ]
    results: dict[tuple[str, str], float] = {}
    for label, _nbytes, fn in rows:
        for name, impl in impls.items():
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                fn(impl)
                times.append(time.perf_counter() - t0)
            results[(label, name)] = statistics.median(times)
            print(f"{label:<22} {name:<9} median {results[(label, name)]:7.2f}s  runs {[round(t, 2) for t in times]}",
                  flush=True)  # fmt: skip
    print()
    header = "| row | " + " | ".join(f"{n} s (MB/s)" for n in clients) + " | ours vs boto3 | ours vs metaflow |"
    print(header)
    print("|" + "---|" * (len(clients) + 3))
    for label, nbytes, _ in rows:
        cells = [f"{results[(label, n)]:.2f} ({nbytes / MB / results[(label, n)]:.0f})" for n in clients]
        both = "ours" in clients
        ratio = [
            f"{results[(label, o)] / results[(label, 'ours')]:.2f}x" if o in clients and both else "-"
            for o in ("boto3", "metaflow")
        ]
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio[0]} | {ratio[1]} |")
    shutil.rmtree(work, ignore_errors=True)


class Ours:
    def __init__(self, client: object) -> None:
        from airflow_ml_provider import S3

        self.S3 = S3

    def get(self, keys: list[str]) -> None:
        with self.S3(s3root="s3://bench") as s3:
            objs = s3.get_many(keys)
            assert all(o.size for o in objs)

    def put(self, items: list[tuple[str, bytes]]) -> None:
        with self.S3(s3root="s3://bench") as s3:
            s3.put_many(items)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        with self.S3(s3root="s3://bench") as s3:
            s3.put_files(items)


class Boto3Loop:
    """What a step would write without a client: one request after another."""

    def __init__(self, client: object) -> None:
        self.client = client

    def get(self, keys: list[str]) -> None:
        tmp = tempfile.mkdtemp(prefix="boto3-loop-")
        try:
            for i, key in enumerate(keys):
                body = self.client.get_object(Bucket="bench", Key=key)["Body"]
                with open(os.path.join(tmp, str(i)), "wb") as f:
                    shutil.copyfileobj(body, f, 8 * MB)
        finally:
            shutil.rmtree(tmp)

    def put(self, items: list[tuple[str, bytes]]) -> None:
        for key, data in items:
            self.client.put_object(Bucket="bench", Key=key, Body=data)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        for key, path in items:
            with open(path, "rb") as f:
                self.client.put_object(Bucket="bench", Key=key, Body=f)


class Metaflow:
    def __init__(self, client: object) -> None:
        from metaflow import S3  # benchmark-only dependency

        self.S3 = S3

    def get(self, keys: list[str]) -> None:
        with self.S3(s3root="s3://bench/") as s3:
            objs = s3.get_many(keys)
            assert all(o.size for o in objs)

    def put(self, items: list[tuple[str, bytes]]) -> None:
        with self.S3(s3root="s3://bench/") as s3:
            s3.put_many(items)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        with self.S3(s3root="s3://bench/") as s3:
            s3.put_files(items)


IMPLS: dict[str, Callable[[object], object]] = {"ours": Ours, "boto3": Boto3Loop, "metaflow": Metaflow}

if __name__ == "__main__":
    main()
