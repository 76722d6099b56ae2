"""Dedup: a second run whose large input did not change writes no new bytes for it.

    .venv/bin/python -m benchmarks.bench_dedup [--mb 512]

Runs the large-data flow (``benchmarks/bench_large_data.py``: ``start`` builds a deterministic
DataFrame, ``consume`` reads it) twice with ``python flow.py run`` against one local artifact
root, and counts the bytes under ``<root>/LargeDataFlow/data/`` (the content-addressed blobs)
before and after each run, plus the run metadata bytes (``runs/``). Run 2 should add only a
few small blobs (none for the DataFrame): its ``start`` re-serializes and hashes the frame, finds
the blob present and skips the write, and ``consume`` does the same for the frame it read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks._common import PY, Row, Workspace, loadavg, run_cmd, run_standalone, tree_bytes, write_flow
from benchmarks.bench_large_data import FLOW


def run(ws: Workspace, mb: int = 512, kind: str = "dataframe") -> list[Row]:
    folder = ws.dir("dedup")
    root = folder / "artifacts"
    flow_file = write_flow(folder / "large_data_flow.py", FLOW, "mlp")
    env = ws.env(dags=folder, artifacts=root, BENCH_KIND=kind, BENCH_MB=str(mb))
    data, runs = root / "LargeDataFlow" / "data", root / "LargeDataFlow" / "runs"
    written, meta, walls, saves, loads = [], [], [], [], []
    for i in range(2):
        ws.reset_marks()
        before, before_meta = tree_bytes(data), tree_bytes(runs)
        walls.append(run_cmd([PY, str(flow_file), "run"], env, folder, ws.base / f"dedup-{i}.log"))
        written.append(tree_bytes(data) - before)
        meta.append(tree_bytes(runs) - before_meta)
        marks = ws.read_marks()
        saves.append(marks["start_exit"]["t"] - marks["start_user_end"]["t"])
        loads.append(loadavg())
        print(
            f"  dedup run {i + 1}: data/ +{written[-1]} bytes, runs/ +{meta[-1]} bytes, wall {walls[-1]:.1f} s, "
            f"start save {saves[-1]:.2f} s",
            flush=True,
        )
    bench = f"dedup ({kind} {mb} MiB, 2 runs, local store)"
    return [
        Row(bench, "run 1", "bytes written to data/", [float(written[0])], unit="bytes", loads=loads[:1]),
        Row(
            bench,
            "run 2",
            "bytes written to data/",
            [float(written[1])],
            unit="bytes",
            baseline="run 1",
            loads=loads[1:],
            note="unchanged input: only small blobs may appear",
        ),
        Row(bench, "run 1", "bytes written to runs/ (metadata)", [float(meta[0])], unit="bytes"),
        Row(bench, "run 2", "bytes written to runs/ (metadata)", [float(meta[1])], unit="bytes", baseline="run 1"),
        Row(bench, "run 1", "start save (serialize+hash+write)", [saves[0]]),
        Row(
            bench,
            "run 2",
            "start save (serialize+hash+write)",
            [saves[1]],
            baseline="run 1",
            note="write skipped, hashing still paid",
        ),
        Row(bench, "run 1", "wall", [walls[0]]),
        Row(bench, "run 2", "wall", [walls[1]], baseline="run 1"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    run_standalone(args, lambda ws: run(ws, args.mb))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
