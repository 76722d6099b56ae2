"""Put/get throughput of the S3 backend against a raw boto3 baseline, on a local moto_server.

    .venv/bin/python benchmarks/s3_transfer.py [--sizes 1,64,512] [--repeat 2]

Starts its own moto_server, then for each object size measures, in the same run:
  raw       one ``put_object(Body=bytes)`` / ``get_object().read()`` (the baseline, ratio 1.00)
  s3transfer boto3 ``upload_fileobj`` / ``download_fileobj`` with its default TransferConfig
  single    S3Backend forced to one PUT / one GET
  parts     S3Backend forced to multipart upload / ranged download (16 MB parts; ranges of at least
            16 MB, one per thread; 10 threads; ``fan_out_after=0``: ranges from the start)
  auto      S3Backend with its defaults (what the artifact store does: above 64 MB, ranged GETs only
            when the first GET's stream would need over 0.5 s more, which moto's never does)
moto is an in-memory, single-process Python server sharing the machine's cores with this client,
and it copies the whole object for every ranged GET: read the ranged figures as moto's, not S3's.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_ml_provider.datastore.s3 import MB, S3Backend
from tests.fixtures.moto import start_moto_server

HUGE = 1 << 62
BUCKET = "bench"


def _rows(raw, backends: dict[str, S3Backend], data: bytes) -> dict[str, tuple]:
    """(put, get) callables per method; every put writes the same object that its get reads."""
    key = "b/obj"

    def raw_put() -> None:
        raw.put_object(Bucket=BUCKET, Key=key, Body=data)

    def raw_get() -> bytes:
        return raw.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def xfer_put() -> None:
        raw.upload_fileobj(io.BytesIO(data), BUCKET, key)

    def xfer_get() -> memoryview:
        out = io.BytesIO()
        raw.download_fileobj(BUCKET, key, out)
        return out.getbuffer()

    rows: dict[str, tuple] = {"raw": (raw_put, raw_get), "s3transfer": (xfer_put, xfer_get)}
    for name, backend in backends.items():
        rows[name] = (lambda b=backend: b.write("obj", memoryview(data)), lambda b=backend: b.read("obj"))
    return rows


def run(sizes_mb: list[int], repeat: int) -> None:
    import boto3

    with start_moto_server() as url:
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL_S3=url,
        )  # fmt: skip
        raw = boto3.client("s3")
        raw.create_bucket(Bucket=BUCKET)
        root = f"s3://{BUCKET}/b"
        backends = {
            "single": S3Backend(root, multipart_threshold=HUGE, ranged_threshold=HUGE),
            "parts": S3Backend(root, multipart_threshold=0, ranged_threshold=0, fan_out_after=0),
            "auto": S3Backend(root),
        }
        for backend in backends.values():  # client creation and first connection are not transfer time
            backend.write("warm", b"x")
            backend.read("warm")
        raw.get_object(Bucket=BUCKET, Key="b/warm")["Body"].read()
        print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, moto at {url}")
        print(f"{'size':>6} {'method':>10} {'put MB/s':>9} {'x raw':>6} {'get MB/s':>9} {'x raw':>6}")
        for size_mb in sizes_mb:
            data = os.urandom(size_mb * MB)
            reps = repeat if size_mb < 256 else max(1, repeat - 1)
            rows = _rows(raw, backends, data)
            best = {name: [float("inf"), float("inf")] for name in rows}
            names = list(rows)
            for round_ in range(reps):  # rounds interleave and rotate methods: moto's drift hits all alike
                for name in names[round_:] + names[:round_]:
                    put, get = rows[name]
                    for i, fn in enumerate((put, get)):
                        start = time.perf_counter()
                        got = fn()
                        best[name][i] = min(best[name][i], time.perf_counter() - start)
                    assert memoryview(got) == memoryview(data), f"{name}: data differs"
                    del got
                    raw.delete_object(Bucket=BUCKET, Key="b/obj")  # moto keeps objects in memory
            base_put, base_get = (size_mb / t for t in best["raw"])
            for name, (t_put, t_get) in best.items():
                put_rate, get_rate = size_mb / t_put, size_mb / t_get
                print(
                    f"{size_mb:>4}MB {name:>10} {put_rate:>9.0f} {put_rate / base_put:>6.2f} "
                    f"{get_rate:>9.0f} {get_rate / base_get:>6.2f}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,64,512", help="object sizes in MB, comma separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best of N; N-1 for objects of 256 MB and more)")
    args = parser.parse_args()
    run([int(s) for s in args.sizes.split(",")], args.repeat)


if __name__ == "__main__":
    main()
