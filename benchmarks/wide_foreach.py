"""A 1000-wide foreach run locally (``python flow.py run``) and under ``airflow dags test``.

    .venv/bin/python benchmarks/wide_foreach.py [--width 1000] [--big-mb 5] [--modes local,airflow]

Uses tests/flows/wide_flow.py (start -> body x width -> join -> end; each body task stores a
``--big-mb`` MB numpy array and two small artifacts; the join reads only the small ones and records
its peak RSS). Everything lives in a temporary folder: AIRFLOW_HOME with a SQLite db (``airflow db
migrate``), a dags folder holding a copy of the flow, and an artifact root per run; it is deleted at
the end unless ``--keep``.

For each mode it runs a 1-wide baseline and the wide run in the same invocation and prints:
  wall           the whole command, seconds (and the ratio against the 1-wide baseline)
  per task       wall / number of tasks
  in-step        sum of the store's per-attempt ``duration_s`` (the runtime's own measurement:
                 inputs, user code, artifact writes, metadata), i.e. the work a pod would do
  around-step    what is left: process start-up and imports of each step subprocess, the local
                 runner's / Airflow's scheduling, task-instance bookkeeping, parsing
  Airflow TIs    (airflow mode) sum of the task instances' durations from the Airflow db and the
                 part of them spent outside the step (TI duration - step duration_s)
  join peak RSS  the join step's peak resident memory vs width * big-mb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOW_FILE = ROOT / "tests" / "flows" / "wide_flow.py"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))


def _env(home: Path, dags: Path, artifacts: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__CORE__MAX_MAP_LENGTH="1024",
        AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(artifacts),
        AIRFLOW__ML_PROVIDER__EXECUTION_MODE="local",
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _timed(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])} failed ({proc.returncode}); tail of {log}:\n{log.read_text()[-4000:]}")
    return wall


def _store_figures(artifacts: Path) -> dict:
    """Per-step attempt durations and the join's figures, read through the client."""
    from airflow_ml_provider.client import Flow, namespace, set_artifact_root

    set_artifact_root(str(artifacts))
    namespace(None)
    try:
        run = Flow("WideFlow").latest_run
        steps = {}
        for step in run.steps():
            tasks = step.tasks()
            steps[step.id] = {
                "tasks": len(tasks),
                "durations": [t.metadata["duration_s"] for t in tasks],
                "by_task": {t.id: t.metadata["duration_s"] for t in tasks},
                "first_start": min(datetime.fromisoformat(t.metadata["started_at"]) for t in tasks),
                "last_end": max(datetime.fromisoformat(t.metadata["finished_at"]) for t in tasks),
            }
        join = run["join"].task.data
        assert join.n_inputs == len(join.order), "join saw fewer inputs than its order lists"
        return {
            "run_id": run.id, "successful": run.successful, "steps": steps,
            "join_peak_mb": join.join_peak_mb, "n_inputs": join.n_inputs,
            "order_ok": join.order == [f"item{i}" for i in range(join.n_inputs)],
            "body_peak_mb": statistics.median(join.body_peaks_mb),
        }  # fmt: skip
    finally:
        set_artifact_root(None)


def _airflow_tis(home: Path) -> dict:
    """Task instances of the latest WideFlow dag run from the Airflow db."""
    db = sqlite3.connect(home / "airflow.db")
    try:
        run_id, run_start, run_end = db.execute(
            "SELECT run_id, start_date, end_date FROM dag_run WHERE dag_id='WideFlow' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, map_index, state, start_date, end_date, duration FROM task_instance "
            "WHERE dag_id='WideFlow' AND run_id=?",
            (run_id,),
        ).fetchall()
    finally:
        db.close()
    tis: dict[str, dict] = {}
    for task_id, map_index, state, start, end, duration in rows:
        entry = tis.setdefault(task_id, {"states": {}, "durations": {}, "starts": [], "ends": []})
        entry["states"][state] = entry["states"].get(state, 0) + 1
        entry["durations"][map_index] = duration or 0.0
        entry["starts"].append(_parse(start))
        entry["ends"].append(_parse(end))
    return {"run_id": run_id, "run_span": (_parse(run_end) - _parse(run_start)).total_seconds(), "tasks": tis}


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace(" ", "T"))


def _run_mode(mode: str, width: int, big_mb: int, base: Path, env_base: dict) -> dict:
    artifacts = base / f"artifacts-{mode}-{width}"
    env = {**env_base, "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": str(artifacts)}
    log = base / f"{mode}-{width}.log"
    if mode == "local":
        flow_file = str(base / "dags" / "wide_flow.py")
        argv = [sys.executable, flow_file, "run", "--width", str(width), "--big_mb", str(big_mb)]
    else:
        conf = json.dumps({"width": width, "big_mb": big_mb})
        argv = [str(VENV_BIN / "airflow"), "dags", "test", "WideFlow", "-c", conf]
    wall = _timed(argv, env, base, log)
    figures = _store_figures(artifacts)
    figures["wall"] = wall
    figures["n_tasks"] = sum(s["tasks"] for s in figures["steps"].values())
    if mode == "airflow":
        figures["airflow"] = _airflow_tis(Path(env["AIRFLOW_HOME"]))
    shutil.rmtree(artifacts, ignore_errors=True)  # width * big_mb of arrays
    return figures


def _report(mode: str, width: int, big_mb: int, r: dict, baseline: dict, workers: int) -> None:
    steps = r["steps"]
    body = steps["body"]
    in_step = sum(sum(s["durations"]) for s in steps.values())
    body_span = (body["last_end"] - body["first_start"]).total_seconds()
    print(f"\n== {mode}: width {width} ({r['n_tasks']} tasks), big_mb {big_mb}, run {r['run_id']} ==")
    print(
        f"wall                    {r['wall']:8.1f} s   (1-wide baseline {baseline['wall']:.1f} s, "
        f"ratio {r['wall'] / baseline['wall']:.1f}x for {r['n_tasks'] / baseline['n_tasks']:.0f}x the tasks)"
    )
    per_task, base_per_task = r["wall"] / r["n_tasks"], baseline["wall"] / baseline["n_tasks"]
    print(f"per task (wall/tasks)   {per_task:8.3f} s   (baseline {base_per_task:.3f} s)")
    print(f"body span               {body_span:8.1f} s   first body start -> last body end ({body['tasks']} tasks)")
    print(
        f"body step duration_s    median {statistics.median(body['durations']):.3f} s, "
        f"max {max(body['durations']):.3f} s, sum {sum(body['durations']):.1f} s"
    )
    for name in ("start", "join", "end"):
        print(f"{name:<6} duration_s        {steps[name]['durations'][0]:8.3f} s")
    if mode == "local":
        capacity = r["wall"] * workers
        share = 100 * in_step / capacity
        print(f"in-step (sum duration_s){in_step:8.1f} s   = {share:.0f}% of wall x {workers} workers")
        per_task_outside = (capacity - in_step) / r["n_tasks"]
        print(
            f"around-step per task    {per_task_outside:8.3f} s   (subprocess start + imports + runner; "
            f"wall x workers - in-step, / tasks)"
        )
    else:
        tis = r["airflow"]["tasks"]
        ti_sum = sum(sum(t["durations"].values()) for t in tis.values())
        body_ti = tis["body"]["durations"]
        outside = [body_ti[int(tid)] - d for tid, d in body["by_task"].items()]
        states = {name: t["states"] for name, t in tis.items()}
        print(f"task instances          {states}")
        print(
            f"dag run span (db)       {r['airflow']['run_span']:8.1f} s   (wall - span = CLI start-up + parsing: "
            f"{r['wall'] - r['airflow']['run_span']:.1f} s)"
        )
        print(f"sum of TI durations     {ti_sum:8.1f} s   = {100 * ti_sum / r['wall']:.0f}% of wall")
        print(f"in-step (sum duration_s){in_step:8.1f} s   = {100 * in_step / r['wall']:.0f}% of wall")
        print(
            f"body TI duration        median {statistics.median(body_ti.values()):.3f} s; of which outside the "
            f"step (TI - duration_s): median {statistics.median(outside):.3f} s"
        )
        gaps = r["airflow"]["run_span"] - ti_sum
        print(
            f"between TIs             {gaps:8.1f} s   (run span - sum of TI durations: scheduling loop, "
            f"expansion, db) = {gaps / r['n_tasks']:.3f} s per task"
        )
    expected = width * big_mb
    print(
        f"join peak RSS           {r['join_peak_mb']:8.0f} MB  (the {width} inputs' large arrays total "
        f"{expected} MB; a body task peaks at {r['body_peak_mb']:.0f} MB)"
    )
    print(f"join inputs in order    {r['order_ok']} ({r['n_inputs']} inputs)")
    print(
        f"load average now        {' '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min; other work slows this)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--big-mb", type=int, default=5)
    parser.add_argument("--modes", default="local,airflow")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    base = Path(tempfile.mkdtemp(prefix="wide-foreach-bench-"))
    (base / "dags").mkdir()
    shutil.copy(FLOW_FILE, base / "dags" / "wide_flow.py")
    env = _env(base / "airflow_home", base / "dags", base / "artifacts")
    workers = os.cpu_count() or 2
    print(
        f"wide foreach benchmark: width {args.width}, big_mb {args.big_mb}, {platform.python_version()}, "
        f"{platform.machine()}, {workers} CPUs (local runner uses {workers} workers), folder {base}"
    )
    try:
        if "airflow" in modes:
            t0 = time.perf_counter()
            _timed([str(VENV_BIN / "airflow"), "db", "migrate"], env, base, base / "migrate.log")
            print(f"airflow db migrate: {time.perf_counter() - t0:.1f} s (not counted below)")
        for mode in modes:
            baseline = _run_mode(mode, 1, args.big_mb, base, env)
            wide = _run_mode(mode, args.width, args.big_mb, base, env)
            _report(mode, 1, args.big_mb, baseline, baseline, workers)
            _report(mode, args.width, args.big_mb, wide, baseline, workers)
            sys.stdout.flush()
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
