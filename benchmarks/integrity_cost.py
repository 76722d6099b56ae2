"""What checking every blob read costs: load + touch a large DataFrame artifact, checked or not.

    .venv/bin/python benchmarks/integrity_cost.py              # 1 GiB, local root, 5 rounds
    .venv/bin/python benchmarks/integrity_cost.py --s3 --gib 0.25

Variants, alternated within each round (the page cache is warm for all: the blob was just written):

* ``unchecked`` -- the load as before integrity checks (the key is pre-marked as verified);
* ``xxh3``      -- what readers do now: the record's xxh3-128 checksum is checked;
* ``sha256``    -- what a record without a checksum (format 1) costs: the key itself is recomputed.

Each variant loads the artifact through ``FlowDatastore.load_artifact`` in a fresh store object and
then touches every column (a sum per column), as a consumer step would. Prints min/median/max per
variant and the overhead of each check relative to ``unchecked``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from airflow_ml_provider.datastore import FlowDatastore, get_backend  # noqa: E402


def make_frame(gib: float) -> pd.DataFrame:
    rows = int(gib * 2**30 / (8 * 5))
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "a": rng.random(rows), "b": rng.random(rows), "c": rng.integers(0, 1 << 40, rows),
        "d": rng.standard_normal(rows),
        "t": pd.date_range("2020-01-01", periods=rows, freq="s").values,
    })  # fmt: skip


def touch(df: pd.DataFrame) -> float:
    return float(sum(df[c].astype("int64" if c == "t" else df[c].dtype).sum() for c in df.columns))


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--s3", action="store_true", help="store on a moto_server started here")
    args = parser.parse_args()

    from contextlib import ExitStack

    with ExitStack() as stack:
        if args.s3:
            from tests.fixtures.moto import start_moto_server

            url = stack.enter_context(start_moto_server())
            os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                              AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_S3=url)  # fmt: skip
            import boto3

            boto3.client("s3").create_bucket(Bucket="bench")
            root = "s3://bench/store"
        else:
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix="mlp-integrity-"))
        backend = get_backend(root)
        df = make_frame(args.gib)
        record = FlowDatastore("Bench", backend).save_artifact("df", df)
        del df
        print(f"artifact: {record['size'] / 2**30:.2f} GiB ({record['serializer']}) at {root}; "
              f"load {os.getloadavg()[0]:.1f}; {platform.python_version()}, numpy {np.__version__}, "
              f"pandas {pd.__version__}")  # fmt: skip
        no_checksum = {k: v for k, v in record.items() if k != "checksum"}

        def load(variant: str) -> None:
            store = FlowDatastore("Bench", backend)
            if variant == "unchecked":
                store._verified.add(record["key"])
            touch(store.load_artifact(record if variant != "sha256" else no_checksum, "df"))

        variants = ["unchecked", "xxh3", "sha256"]
        times: dict[str, list[float]] = {v: [] for v in variants}
        for round_no in range(args.rounds):
            order = variants if round_no % 2 == 0 else variants[::-1]
            for variant in order:
                times[variant].append(timed(lambda v=variant: load(v)))
        base = statistics.median(times["unchecked"])
        print(f"{'variant':10s} {'min':>7s} {'median':>7s} {'max':>7s}  overhead vs unchecked (median)")
        for variant in variants:
            values = times[variant]
            med = statistics.median(values)
            print(f"{variant:10s} {min(values):7.2f} {med:7.2f} {max(values):7.2f}  {100 * (med - base) / base:+.0f}%")


if __name__ == "__main__":
    main()
