"""Benchmark: ``airflow_ml_provider.S3`` vs a plain boto3 loop vs ``metaflow.S3``, one S3 endpoint.

Rows: 1000 x 1 MB and 4 x 256 MB objects, get and put. Every client produces the same result: a get
leaves every object in a local file (the boto3 loop streams ``get_object`` bodies into files, as
the two S3 clients do), a put uploads from memory (small rows) or from local files (large rows:
``put_files`` / ``put_object(Body=file)``). Medians of ``--reps`` runs, all three clients against
the same endpoint in one process run. ``metaflow`` is installed for this comparison only
(``uv pip install metaflow``); it talks to moto through ``METAFLOW_S3_ENDPOINT_URL``.

One table per ``--latency-ms`` value (default ``0,20``): 0 is a plain ``moto_server`` on loopback
(measures server and client CPU: no network time at all); a value above 0 is
``benchmarks/latency_s3.py``, the same moto app with that fixed sleep before every request, a
model of S3's per-request latency (see its docstring). Each latency runs in its own child process
with its own server, since ``metaflow`` reads its endpoint once, at import.

Under each table, a second one gives every client's CPU seconds (its own process and reaped
children such as metaflow's ``s3op`` workers, plus the server process) and the ceiling: the best
ratio over the boto3 loop that any concurrent client could reach with the loop's CPU per request
on this machine's cores. On loopback it is about the core count, which is why a 3x target for many
small objects can only show once requests carry latency.

    .venv/bin/python benchmarks/s3_client.py [--latency-ms 0,20] [--reps 3] [--small 1000] [--large 4]
        [--large-mb 256] [--clients ours,boto3,metaflow] [--workers N] [--out results.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MB = 1 << 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency-ms", default="0,20", help="comma list; 0 = plain moto_server (default 0,20)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--large-mb", type=int, default=256)
    ap.add_argument("--clients", default="ours,boto3,metaflow")
    ap.add_argument("--workers", type=int, default=None, help="ours: max_workers (default: the client's)")
    ap.add_argument("--out", default=None, help="append each latency's markdown table to this file")
    args = ap.parse_args()

    latencies = [float(x) for x in args.latency_ms.split(",")]
    if len(latencies) > 1:  # one child per latency: fresh server, fresh metaflow config
        rest = sys.argv[1:]
        for i, arg in enumerate(rest):
            if arg.startswith("--latency-ms="):
                rest[i] = ""
            elif arg == "--latency-ms":
                rest[i] = rest[i + 1] = ""
        rest = [a for a in rest if a]
        for ms in latencies:
            subprocess.run([sys.executable, __file__, *rest, "--latency-ms", f"{ms:g}"], check=True)
        return

    from benchmarks.latency_s3 import start_latency_server
    from tests.fixtures.moto import start_moto_server

    ms = latencies[0]
    with start_latency_server(ms) if ms > 0 else start_moto_server() as endpoint:
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL_S3=endpoint, METAFLOW_S3_ENDPOINT_URL=endpoint,
            METAFLOW_HOME=tempfile.mkdtemp(prefix="mf-home-"),  # no user config
        )  # fmt: skip
        run(args, endpoint, ms)


def run(args: argparse.Namespace, endpoint: str, latency_ms: float) -> None:
    import boto3
    import botocore.config

    client = boto3.client("s3", config=botocore.config.Config(max_pool_connections=16))
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
    with ThreadPoolExecutor(8) as pool:  # seed once so every get row reads existing objects
        list(pool.map(lambda kv: client.put_object(Bucket="bench", Key=kv[0], Body=kv[1]), small.items()))
    for key, path in large_files:
        client.upload_file(path, "bench", key)

    clients = args.clients.split(",")
    impls = {name: IMPLS[name](client, args) for name in clients}
    rows = [
        (f"get {args.small} x 1 MB", args.small * MB, lambda c: c.get(list(small))),
        (f"put {args.small} x 1 MB", args.small * MB, lambda c: c.put(list(small.items()))),
        (f"get {args.large} x {args.large_mb} MB", args.large * args.large_mb * MB, lambda c: c.get(large_keys)),
        (f"put {args.large} x {args.large_mb} MB", args.large * args.large_mb * MB, lambda c: c.put_files(large_files)),
    ]
    rows = [row for row in rows if row[1]]  # --small 0 / --large 0 leave their rows out
    server = _server_process(endpoint)
    me = psutil.Process()
    results: dict[tuple[str, str], float] = {}
    cpu: dict[tuple[str, str], tuple[float, float]] = {}  # (client CPU s, server CPU s), medians
    for label, _nbytes, fn in rows:
        for name, impl in impls.items():
            times, client_cpu, server_cpu = [], [], []
            for _ in range(args.reps):
                c0, s0 = _cpu_seconds(me), _cpu_seconds(server)
                t0 = time.perf_counter()
                fn(impl)
                times.append(time.perf_counter() - t0)
                client_cpu.append(_cpu_seconds(me) - c0)
                server_cpu.append(_cpu_seconds(server) - s0)
            results[(label, name)] = statistics.median(times)
            cpu[(label, name)] = (statistics.median(client_cpu), statistics.median(server_cpu))
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"{latency_ms:g} ms  {label:<22} {name:<9} median {results[(label, name)]:7.2f}s  "
                  f"runs {[round(t, 2) for t in times]}  load {load}", flush=True)  # fmt: skip
    where = "plain moto_server" if latency_ms == 0 else "modeled per-request latency, benchmarks/latency_s3.py"
    lines = [f"### {latency_ms:g} ms: {where}; medians of {args.reps}", ""]
    lines.append("| row | " + " | ".join(f"{n} s (MB/s)" for n in clients) + " | ours vs boto3 | ours vs metaflow |")
    lines.append("|" + "---|" * (len(clients) + 3))
    for label, nbytes, _ in rows:
        cells = [f"{results[(label, n)]:.2f} ({nbytes / MB / results[(label, n)]:.0f})" for n in clients]
        both = "ours" in clients
        ratio = [
            f"{results[(label, o)] / results[(label, 'ours')]:.2f}x" if o in clients and both else "-"
            for o in ("boto3", "metaflow")
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio[0]} | {ratio[1]} |")
    lines += ["", _cpu_table(rows, clients, results, cpu)]
    table = "\n".join(lines) + "\n"
    print("\n" + table, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(table + "\n")
    shutil.rmtree(work, ignore_errors=True)


def _server_process(endpoint: str) -> psutil.Process:
    """The S3 server subprocess serving ``endpoint`` (its command line holds the port)."""
    port = endpoint.rsplit(":", 1)[1]
    for proc in psutil.Process().children(recursive=True):
        if port in proc.cmdline():
            return proc
    raise RuntimeError(f"no child process serves {endpoint}")


def _cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU of ``proc`` and its reaped children (metaflow's ``s3op`` workers)."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _cpu_table(rows: list, clients: list[str], results: dict, cpu: dict) -> str:
    """CPU per row, and the best ratio any concurrent client could reach over the boto3 loop.

    A client that overlaps requests still spends (at least) the loop's CPU per request, in its own
    process and in the server's, and ``cores`` CPUs run that work at best in parallel: its wall time
    is at least ``(loop client CPU + loop server CPU) / cores``. The ceiling is the loop's wall time
    over that. On loopback (0 ms) it is about the core count; latency the loop waits out raises it.
    """
    cores = os.cpu_count() or 1
    lines = [
        "| row | "
        + " | ".join(f"{n} CPU s client + server" for n in clients)
        + f" | ceiling vs boto3 ({cores} cores) |",
        "|" + "---|" * (len(clients) + 2),
    ]
    for label, _nbytes, _fn in rows:
        cells = [f"{cpu[(label, n)][0]:.2f} + {cpu[(label, n)][1]:.2f}" for n in clients]
        ceiling = "-"
        if "boto3" in clients:
            loop_cpu = sum(cpu[(label, "boto3")])
            ceiling = f"{results[(label, 'boto3')] * cores / loop_cpu:.2f}x" if loop_cpu else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ceiling} |")
    return "\n".join(lines)


class Ours:
    def __init__(self, client: object, args: argparse.Namespace) -> None:
        from airflow_ml_provider import S3

        self.S3 = lambda: S3(s3root="s3://bench", max_workers=args.workers)

    def get(self, keys: list[str]) -> None:
        with self.S3() as s3:
            objs = s3.get_many(keys)
            assert all(o.size for o in objs)

    def put(self, items: list[tuple[str, bytes]]) -> None:
        with self.S3() as s3:
            s3.put_many(items)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        with self.S3() as s3:
            s3.put_files(items)


class Boto3Loop:
    """What a step would write without a client: one request after another."""

    def __init__(self, client: object, args: argparse.Namespace) -> None:
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
    def __init__(self, client: object, args: argparse.Namespace) -> None:
        from metaflow import S3  # benchmark-only dependency

        self.S3 = S3

    def get(self, keys: list[str]) -> None:
        with self.S3(s3root="s3://bench/", tmproot=tempfile.gettempdir()) as s3:
            objs = s3.get_many(keys)
            assert all(o.size for o in objs)

    def put(self, items: list[tuple[str, bytes]]) -> None:
        with self.S3(s3root="s3://bench/", tmproot=tempfile.gettempdir()) as s3:
            s3.put_many(items)

    def put_files(self, items: list[tuple[str, str]]) -> None:
        with self.S3(s3root="s3://bench/", tmproot=tempfile.gettempdir()) as s3:
            s3.put_files(items)


IMPLS: dict[str, Callable[[object, argparse.Namespace], object]] = {
    "ours": Ours,
    "boto3": Boto3Loop,
    "metaflow": Metaflow,
}

if __name__ == "__main__":
    main()
