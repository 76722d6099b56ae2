"""The whole benchmark suite in one command; prints one table of medians and ratios.

    .venv/bin/python benchmarks/run_all.py [--mb 190] [--repeat 5] [--only large,tax,overhead,parse,dedup,fanout]
                                           [--out results.md] [--keep]

Installs what it needs first: ``metaflow`` (a comparison only, never imported by the product)
into this interpreter's environment with ``uv pip install --python <this python>`` (falling back
to ``python -m pip``). Every baseline a ratio refers to is measured in the same invocation, in the
same temporary workspace (AIRFLOW_HOME with SQLite, dags folders, artifact roots, moto_server).
Variants of one benchmark alternate within each repetition. Each table row shows min, median and
max of ``--repeat`` runs and every run's value; ``ratio`` is median / the baseline's median
(below 1 is faster than the baseline). ``loads`` are the 1/5/15-minute load averages after each
run: the machine is shared, so read the numbers next to them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import PY, Row, Workspace, loadavg

COMPARISON_PACKAGES = ["metaflow"]
NEEDED = ["pandas", "pyarrow", "numpy", "boto3", "moto", "apache-airflow", "apache-airflow-providers-common-io"]


def ensure_installed() -> None:
    missing = []
    for name in COMPARISON_PACKAGES + NEEDED:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name if name != "moto" else "moto[server]")
    if not missing:
        return
    print(f"installing {missing} into {sys.prefix}", flush=True)
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(PY).parent))
    cmd = [uv, "pip", "install", "--python", PY, *missing] if uv else [PY, "-m", "pip", "install", *missing]
    subprocess.run(cmd, check=True)


def versions() -> dict[str, str]:
    out = {}
    for name in (
        "apache-airflow",
        "apache-airflow-providers-common-io",
        "apache-airflow-providers-cncf-kubernetes",
        "metaflow",
        "pandas",
        "pyarrow",
        "numpy",
        "moto",
        "airflow-ml-provider",
    ):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f", {int(fh.readline().split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores{mem}, {platform.machine()}, {platform.platform()}, Python {platform.python_version()}"
    )


def _fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    if unit == "s":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"


def print_table(rows: list[Row]) -> str:
    """Markdown table: bench | variant | metric | min | median | max | runs | ratio vs baseline | note."""
    index = {(r.bench, r.metric, r.variant): r for r in rows}
    lines = [
        "| benchmark | variant | metric | min | median | max | unit | runs | ratio | vs | loads (1/5/15 min) | note |",
        "|---|---|---|---:|---:|---:|---|---|---:|---|---|---|",
    ]
    for r in rows:
        ratio, vs = "", ""
        base = index.get((r.bench, r.metric, r.baseline)) if r.baseline else None
        if base is not None and base.values and r.values and base.median > 0:
            ratio, vs = f"{r.median / base.median:.2f}x", base.variant
        runs = ", ".join(_fmt(v, r.unit) for v in r.values)
        loads = "; ".join(r.loads)
        lo, hi = (min(r.values), max(r.values)) if r.values else (float("nan"), float("nan"))
        lines.append(
            f"| {r.bench} | {r.variant} | {r.metric} | {_fmt(lo, r.unit)} | {_fmt(r.median, r.unit)} "
            f"| {_fmt(hi, r.unit)} | {r.unit} | {runs} "
            f"| {ratio} | {vs} | {loads} | {r.note} |"
        )
    return "\n".join(lines)


BENCHES = {
    "large": "benchmarks.bench_large_data",
    "tax": "benchmarks.bench_import_tax",
    "overhead": "benchmarks.bench_step_overhead",
    "parse": "benchmarks.bench_parse",
    "dedup": "benchmarks.bench_dedup",
    "fanout": "benchmarks.bench_fanout",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=190, help="size of the DataFrame / array payloads (MiB)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--width", type=int, default=500, help="fan-out width")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    parser.add_argument("--no-install", action="store_true")
    args = parser.parse_args()
    if not args.no_install:
        ensure_installed()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    vers = versions()
    header = [
        f"# Benchmark run {date.today().isoformat()}",
        "",
        f"Machine: {machine()}",
        f"Load average at start: {loadavg()}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"Payload size: {args.mb} MiB, repeats: {args.repeat}",
        "",
    ]
    print("\n".join(header), flush=True)
    rows: list[Row] = []
    ws = Workspace(keep=args.keep)
    t0 = time.perf_counter()
    try:
        for name in args.only.split(","):
            module = importlib.import_module(BENCHES[name])
            print(f"== {name} ({module.__name__}) load {loadavg()}", flush=True)
            started = time.perf_counter()
            if name == "large":
                got = module.run(ws, mb=args.mb, repeat=args.repeat)
            elif name == "fanout":
                got = module.run(ws, width=args.width, repeat=1)  # ~3 min per wide run
            elif name == "dedup":
                got = module.run(ws, mb=args.mb)
            else:
                got = module.run(ws, repeat=args.repeat)
            rows.extend(got)
            print(print_table(got), flush=True)
            print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        ws.close()
    text = (
        "\n".join(header) + "\n" + print_table(rows) + f"\n\nSuite wall time: {time.perf_counter() - t0:.0f} s; "
        f"load average at end: {loadavg()}\n"
    )
    print("\n" + text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
