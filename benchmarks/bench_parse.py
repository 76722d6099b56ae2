"""Parse cost: ``airflow dags report`` for a 100-step flow file vs the equivalent hand-written DAG file.

    .venv/bin/python -m benchmarks.bench_parse [--steps 100] [--copies 4] [--repeat 3]

Two dags folders, each with ``--copies`` files (distinct class / dag ids) so one ``airflow dags
report`` shows both the first file of the process (which pays the imports: the
KubernetesPodOperator module, kubernetes client, and for the flow this package's compiler) and
the files after it:

  flow          ``class LinearNFlow(FlowSpec)`` with N no-op steps (compiled to N
                FlowStepOperator tasks when Airflow parses the file)
  hand-written  ``with DAG(...)``: N explicit ``KubernetesPodOperator(...)`` statements with the
                same image, namespace, command, resources and labels, chained with ``>>``

Reported per system: ``cold`` = the slowest file of the report (the first one parsed in the
process), ``per-file`` = median of the others (imports already paid), and the wall time of the
whole ``airflow dags report`` command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmarks._common import VENV_BIN, Row, Workspace, loadavg, run_cmd, run_standalone
from benchmarks.bench_step_overhead import flow_source

HAND_HEAD = '''"""{n} KubernetesPodOperator tasks written by hand (benchmark)."""
from datetime import datetime

from airflow.sdk import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

RESOURCES = k8s.V1ResourceRequirements(requests={{"cpu": "1", "memory": "4096Mi"}}, limits={{"memory": "4096Mi"}})

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
'''

HAND_TASK = """    {var} = KubernetesPodOperator(
        task_id="{name}",
        name="{dag_id_lower}-{name}",
        image="python:3.11-slim",
        namespace="default",
        cmds=["python"],
        arguments=["-m", "airflow_ml_provider.runtime", "step", "--flow-file", "flow.py", "--step", "{name}"],
        container_resources=RESOURCES,
        labels={{"ml-flow": "{dag_id_lower}", "ml-step": "{name}"}},
        get_logs=True,
        on_finish_action="delete_succeeded_pod",
    )
"""


def hand_source(n: int, dag_id: str) -> str:
    names = ["start"] + [f"s{i:03d}" for i in range(1, n - 1)] + ["end"]
    text = HAND_HEAD.format(n=n, dag_id=dag_id)
    for name in names:
        text += HAND_TASK.format(var=f"t_{name}", name=name, dag_id_lower=dag_id.lower())
    text += "    " + " >> ".join(f"t_{name}" for name in names) + "\n"
    return text


def _seconds(value: object) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    if ":" in text:
        h, m, s = text.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    return float(text)


def _report(ws: Workspace, folder: Path, log: Path) -> tuple[float, list[float]]:
    wall = run_cmd([str(VENV_BIN / "airflow"), "dags", "report", "-o", "json"], ws.env(dags=folder), folder, log)
    line = next(x for x in log.read_text().splitlines() if x.startswith("[{"))
    doc = json.loads(line)
    durations = sorted((_seconds(d["duration"]) for d in doc), reverse=True)
    return wall, durations


def run(ws: Workspace, repeat: int = 3, steps: int = 100, copies: int = 4) -> list[Row]:
    ws.migrate()
    flows, hand = ws.dir("parse-flow"), ws.dir("parse-hand")
    for i in range(copies):
        text = flow_source(steps, f"Parse{i}Flow").replace(
            "{IMPORT}", "from airflow_ml_provider import FlowSpec, step  # airflow dag"
        )
        (flows / f"parse_flow_{i}.py").write_text(text)
        (hand / f"parse_hand_{i}.py").write_text(hand_source(steps, f"parse_hand_{i}"))
    got: dict[str, dict[str, list[float]]] = {}
    loads: dict[str, list[str]] = {}
    for rep in range(repeat):
        for system, folder in (("hand-written", hand), ("flow", flows)):
            wall, durations = _report(ws, folder, ws.base / f"parse-{system}-{rep}.log")
            if len(durations) != copies:
                raise RuntimeError(f"{system}: report lists {len(durations)} files, expected {copies}")
            entry = got.setdefault(system, {"cold": [], "per-file": [], "wall": []})
            entry["cold"].append(durations[0])
            entry["per-file"].append(statistics.median(durations[1:]))
            entry["wall"].append(wall)
            loads.setdefault(system, []).append(loadavg())
            print(
                f"  parse {system} rep {rep}: files {[round(d, 3) for d in durations]}, wall {wall:.2f} s", flush=True
            )
    rows = []
    bench = f"parse cost ({steps}-step DAG file, airflow dags report)"
    for system in ("hand-written", "flow"):
        base = None if system == "hand-written" else "hand-written"
        rows.append(
            Row(
                bench,
                system,
                "per-file (warm)",
                got[system]["per-file"],
                baseline=base,
                loads=loads[system],
                note=f"median of {copies - 1} files after the first",
            )
        )
        rows.append(Row(bench, system, "cold (first file)", got[system]["cold"], baseline=base))
        rows.append(Row(bench, system, "dags report wall", got[system]["wall"], baseline=base, note=f"{copies} files"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    run_standalone(args, lambda ws: run(ws, args.repeat, args.steps, args.copies))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
