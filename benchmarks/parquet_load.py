"""Benchmark: loading a Parquet dataset from S3 (moto_server) into pandas.

``read_pandas`` (both transfer modes) against ``pandas.read_parquet`` on the same files, whole
dataset and a 2-of-8 column selection. ``pandas.read_parquet`` gets the same pyarrow S3
filesystem (endpoint, credentials) so the only difference is how bytes move. Medians of ``--reps``.

    .venv/bin/python benchmarks/parquet_load.py [--mb 1024] [--files 16] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MB = 1 << 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024, help="dataset size (float64 columns: ~1:1 on disk)")
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from tests.fixtures.moto import start_moto_server

    with start_moto_server() as endpoint:
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL_S3=endpoint,
        )  # fmt: skip
        run(args)


def run(args: argparse.Namespace) -> None:
    import boto3
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from airflow_ml_provider.data import S3, read_pandas
    from airflow_ml_provider.data.tables import arrow_filesystem

    boto3.client("s3").create_bucket(Bucket="bench")
    rows_per_file = args.mb * MB // 8 // 8 // args.files
    tmp = Path(tempfile.mkdtemp(prefix="pq-bench-"))
    files = []
    for i in range(args.files):
        rng = np.random.default_rng(i)
        table = pa.table({f"c{j}": rng.random(rows_per_file) for j in range(8)})
        path = tmp / f"part-{i:03d}.parquet"
        pq.write_table(table, path, row_group_size=1 << 20)
        files.append((f"ds/part-{i:03d}.parquet", str(path)))
    with S3(s3root="s3://bench") as s3:
        s3.put_files(files)
    total = sum(os.path.getsize(p) for _, p in files)
    for _, p in files:
        os.unlink(p)
    print(f"dataset: {args.files} files, {total / MB:.0f} MB on S3, {rows_per_file * args.files:,} rows x 8 float64")

    fs = arrow_filesystem()
    cases = {
        "all columns": None,
        "2 of 8 columns": ["c1", "c5"],
    }
    results = {}
    for label, cols in cases.items():
        impls = {
            "read_pandas (auto)": lambda c=cols: read_pandas("s3://bench/ds/", columns=c),
            "read_pandas via=download": lambda c=cols: read_pandas("s3://bench/ds/", columns=c, via="download"),
            "read_pandas via=arrow": lambda c=cols: read_pandas("s3://bench/ds/", columns=c, via="arrow"),
            "pandas.read_parquet": lambda c=cols: pd.read_parquet("bench/ds/", columns=c, filesystem=fs),
        }
        for name, fn in impls.items():
            times, shape = [], None
            for _ in range(args.reps):
                t0 = time.perf_counter()
                df = fn()
                times.append(time.perf_counter() - t0)
                shape = df.shape
                del df
            results[(label, name)] = statistics.median(times)
            print(f"{label:<15} {name:<26} median {results[(label, name)]:6.2f}s runs {[round(t, 2) for t in times]} "
                  f"shape {shape}", flush=True)  # fmt: skip
    print("\n| selection | method | median s | MB/s of dataset | vs pandas.read_parquet |\n|---|---|---|---|---|")
    for label in cases:
        base = results[(label, "pandas.read_parquet")]
        for (lab, name), t in results.items():
            if lab == label:
                print(f"| {label} | {name} | {t:.2f} | {total / MB / t:.0f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
