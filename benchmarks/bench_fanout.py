"""Fan-out: a 500-wide foreach under ``python flow.py run``: wall time and the join's peak memory.

    .venv/bin/python -m benchmarks.bench_fanout [--width 500] [--repeat 1]

Flow: tests/flows/wide_flow.py (start -> body x width -> join -> end, no large arrays). The join
reads three small artifacts of every input and records its own peak RSS: ``VmHWM`` from
/proc/self/status (this process image) and ``ru_maxrss`` (which on Linux can carry a parent's
peak across exec; both are shown). Baseline: the same flow 1 wide, in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from benchmarks._common import PY, ROOT, Row, Workspace, loadavg, run_cmd, run_standalone

# the flow the foreach tests run (no large arrays at its default big_mb=0)
FLOW_FILE = ROOT / "tests" / "flows" / "wide_flow.py"


def _join_figures(root: Path) -> dict[str, float]:
    from airflow_ml_provider.client import Flow, namespace, set_artifact_root

    set_artifact_root(str(root))
    namespace(None)
    try:
        join = Flow("WideFlow").latest_run["join"].task.data
        return {"vmhwm": join.join_peak_mb, "maxrss": join.join_maxrss_mb, "n": join.n_inputs}
    finally:
        set_artifact_root(None)


def run(ws: Workspace, width: int = 500, repeat: int = 1) -> list[Row]:
    folder = ws.dir("fanout")
    flow_file = folder / "wide_flow.py"
    shutil.copy(FLOW_FILE, flow_file)
    got: dict[int, dict[str, list]] = {}
    for rep in range(repeat):
        for w in (1, width):
            root = folder / f"artifacts-{w}-{rep}"
            wall = run_cmd(
                [PY, str(flow_file), "run", "--width", str(w)],
                ws.env(dags=folder, artifacts=root),
                folder,
                ws.base / f"fanout-{w}-{rep}.log",
            )
            fig = _join_figures(root)
            assert fig["n"] == w, fig
            entry = got.setdefault(w, {"wall": [], "vmhwm": [], "maxrss": [], "loads": []})
            entry["wall"].append(wall)
            entry["vmhwm"].append(fig["vmhwm"])
            entry["maxrss"].append(fig["maxrss"])
            entry["loads"].append(loadavg())
            shutil.rmtree(root, ignore_errors=True)
            print(
                f"  fanout width {w} rep {rep}: wall {wall:.1f} s, join VmHWM {fig['vmhwm']:.0f} MB, "
                f"ru_maxrss {fig['maxrss']:.0f} MB",
                flush=True,
            )
    bench = f"fan-out ({width}-wide foreach, python flow.py run)"
    rows = []
    for w in (1, width):
        base = None if w == 1 else "width 1"
        rows.append(Row(bench, f"width {w}", "wall", got[w]["wall"], baseline=base, loads=got[w]["loads"]))
        rows.append(Row(bench, f"width {w}", "join peak RSS (VmHWM)", got[w]["vmhwm"], unit="MB", baseline=base))
        rows.append(Row(bench, f"width {w}", "join ru_maxrss", got[w]["maxrss"], unit="MB", baseline=base))
    rows.append(
        Row(
            bench,
            f"width {width}",
            "wall per task",
            [x / (width + 3) for x in got[width]["wall"]],
            note=f"wall / {width + 3} tasks",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    run_standalone(args, lambda ws: run(ws, args.width, args.repeat))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
