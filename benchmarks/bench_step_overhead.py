"""Per-step overhead: a linear flow of no-op steps, this package vs plain TaskFlow vs Metaflow.

    .venv/bin/python -m benchmarks.bench_step_overhead [--steps 20] [--repeat 3]

Each system runs an N-step (default 20) and a 2-step (start -> end) linear chain of no-op steps;
per-step overhead = (wall(N) - wall(2)) / (N - 2), which cancels the command's fixed start-up
(``import airflow``, parsing, db; or Metaflow's CLI start-up). On a shared machine that
difference of two 15-60 s walls is noisy, so the two ``airflow dags test`` systems also report
the **task cadence**: the median gap between consecutive ``[DAG TEST] starting task_id=`` log
lines of the N-step run (one task's whole cost in the loop: Airflow's bookkeeping, the operator,
the step process), which a burst of load on a few tasks does not move, and its ratio per
repetition (the two systems run back to back, so both saw about the same load).

  mlp       a FlowSpec under ``airflow dags test`` (local mode: each step is a
            ``python -m airflow_ml_provider.runtime step`` subprocess of the worker)
  taskflow  the same chain as ``@task`` functions under ``airflow dags test`` (in-process)
  metaflow  the FlowSpec (only the import line changed) under Metaflow's ``python flow.py run``
  mlp-local the FlowSpec under this package's ``python flow.py run`` (no Airflow)
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
from datetime import datetime
from pathlib import Path

from benchmarks._common import PY, VENV_BIN, Row, Workspace, loadavg, run_cmd, run_standalone, write_flow


def flow_source(n: int, cls: str) -> str:
    names = ["start"] + [f"s{i:03d}" for i in range(1, n - 1)] + ["end"]
    lines = ['"""A linear chain of no-op steps (benchmark)."""', "{IMPORT}", "", "", f"class {cls}(FlowSpec):"]
    for name, nxt in zip(names, [*names[1:], None], strict=True):
        lines += ["    @step", f"    def {name}(self):"]
        lines += [f"        self.next(self.{nxt})" if nxt else "        pass", ""]
    lines += ["", 'if __name__ == "__main__":', f"    {cls}()", ""]
    return "\n".join(lines)


def taskflow_source(n: int, dag_id: str) -> str:
    lines = [
        '"""A linear chain of no-op TaskFlow tasks (benchmark)."""',
        "from airflow.sdk import chain, dag, task",
        "",
        "",
        f'@dag(dag_id="{dag_id}", schedule=None, catchup=False)',
        f"def {dag_id}():",
    ]
    names = ["start"] + [f"s{i:03d}" for i in range(1, n - 1)] + ["end"]
    for name in names:
        lines += [f'    @task(task_id="{name}")', f"    def {name}():", "        pass", ""]
    lines += [f"    chain({', '.join(f'{name}()' for name in names)})", "", "", f"{dag_id}()", ""]
    return "\n".join(lines)


_TASK_START = re.compile(r"^(\S+)Z .*\[DAG TEST\] starting task_id=")


def task_cadence(log: Path) -> float:
    """Median seconds between consecutive task starts in an ``airflow dags test`` log."""
    stamps = [
        datetime.fromisoformat(m.group(1)).timestamp()
        for m in map(_TASK_START.match, log.read_text(errors="replace").splitlines())
        if m
    ]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return statistics.median(gaps) if gaps else float("nan")


def _log(ws: Workspace, system: str, n: int, rep: int) -> Path:
    return ws.base / f"overhead-{system}-{n}-{rep}.log"


def _one(ws: Workspace, system: str, n: int, rep: int) -> float:
    folder = ws.dir(f"overhead-{system}-{n}")
    log = _log(ws, system, n, rep)
    airflow = str(VENV_BIN / "airflow")
    if system == "taskflow":
        dag_id = f"taskflow_linear_{n}"
        (folder / f"{dag_id}.py").write_text(taskflow_source(n, dag_id))
        ws.migrate()
        return run_cmd([airflow, "dags", "test", dag_id], ws.env(dags=folder), folder, log)
    cls = f"Linear{n}Flow"
    flow_file = write_flow(
        folder / f"linear_{n}.py", flow_source(n, cls), "metaflow" if system == "metaflow" else "mlp"
    )
    env = ws.env(dags=folder, artifacts=folder / "artifacts")
    if system == "mlp":
        ws.migrate()
        return run_cmd([airflow, "dags", "test", cls], env, folder, log)
    if system == "metaflow":
        return run_cmd([PY, str(flow_file), "--no-pylint", "run"], env, folder, log)
    return run_cmd([PY, str(flow_file), "run"], env, folder, log)


SYSTEMS = ["taskflow", "mlp", "metaflow", "mlp-local"]


def run(ws: Workspace, repeat: int = 3, steps: int = 20, systems: list[str] | None = None) -> list[Row]:
    systems = systems or SYSTEMS
    walls: dict[tuple[str, int], list[float]] = {}
    cadence: dict[str, list[float]] = {}
    loads: dict[str, list[str]] = {s: [] for s in systems}
    for rep in range(repeat):
        for system in systems:
            for n in (2, steps):
                wall = _one(ws, system, n, rep)
                walls.setdefault((system, n), []).append(wall)
                print(f"  overhead {system} {n} steps rep {rep}: {wall:.2f} s (load {loadavg()})", flush=True)
                if n == steps and system in ("taskflow", "mlp"):
                    cadence.setdefault(system, []).append(task_cadence(_log(ws, system, n, rep)))
                    print(f"    task cadence {cadence[system][-1]:.3f} s", flush=True)
            loads[system].append(loadavg())
    rows = []
    bench = f"per-step overhead ({steps}-step linear flow)"
    for system in systems:
        per_step = [
            (big - small) / (steps - 2) for big, small in zip(walls[(system, steps)], walls[(system, 2)], strict=True)
        ]
        base = None if system == "taskflow" else "taskflow"
        rows.append(
            Row(
                bench,
                system,
                "per-step overhead",
                per_step,
                baseline=base,
                loads=loads[system],
                note="(wall N - wall 2) / (N - 2)",
            )
        )
        if system in cadence:
            rows.append(
                Row(bench, system, "task cadence", cadence[system], baseline=base, note="median gap of task starts")
            )
            if base in cadence and system != base:
                paired = [ours / theirs for ours, theirs in zip(cadence[system], cadence[base], strict=True)]
                rows.append(
                    Row(bench, system, f"cadence / {base} cadence", paired, unit="x",
                        note="per repetition (the two ran back to back), then the median")
                )  # fmt: skip
        rows.append(Row(bench, system, f"wall {steps} steps", walls[(system, steps)], baseline=base))
        rows.append(Row(bench, system, "wall 2 steps", walls[(system, 2)], baseline=base))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    run_standalone(args, lambda ws: run(ws, args.repeat, args.steps, args.systems.split(",")))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
