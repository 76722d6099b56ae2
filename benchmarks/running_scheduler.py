"""Flows against TaskFlow on a running Airflow: scheduler, api-server, LocalExecutor, PostgreSQL.

    nice .venv/bin/python benchmarks/running_scheduler.py [--repeat 3] [--steps 20] [--width 200]
                                                          [--only linear,wide] [--out FILE.md] [--keep]
                                                          [--no-preload]

Issue 17, item 3: not ``airflow dags test`` but a real stack, the one tests/e2e runs
(``tests/fixtures/airflow_stack.py`` + ``tests/fixtures/postgres.py``: api-server, scheduler,
dag-processor, LocalExecutor with parallelism 4, a throw-away PostgreSQL), where every task
instance is a fresh process forked by an executor worker that parses the DAG file again. The
artifact root is a local folder (this measures overhead, not S3).

DAGs (written into the stack's dags folder, all in one invocation):

  linear   ``--steps`` (20) no-op steps in a chain (``self.next`` only), as a flow twice (``fresh``:
           ``local_warm_start = False``; ``warm``: True) and as a TaskFlow DAG (``taskflow``: each
           task returns None)
  wide     start -> body foreach over range(``--width``) -> join -> end as a flow (fresh, warm), and
           the TaskFlow shape start (returns the list) -> body ``.expand()``ed over it (returns its
           item) -> join (reduces the values) -> end

The warm/fresh choice is per DAG: ``[ml_provider] local_warm_start`` is read from the worker's
environment, and the task process that runs a task is the one that parses its DAG file, so each
flow file sets ``AIRFLOW__ML_PROVIDER__LOCAL_WARM_START`` in ``os.environ`` before the flow is
defined. Two 2-step probe flows check that this took effect (a warm-started step has the warm
starter's module loaded; a fresh one does not) before anything is timed.

Each run is triggered through the REST API and polled until it succeeds. Figures per run:
  wall         trigger to success: the run's ``end_date - queued_at`` from the API (no polling error;
               the client's own trigger-to-seen-success time is printed next to it)
  per task     wall / task instances (linear)
  TI median    median task-instance duration (``end_date - start_date``; for wide: the body tasks)
  gap / task   (wall - sum of TI durations) / tasks: scheduling, queueing, process start before the
               TI's start is recorded (linear only: there the tasks do not overlap)
  parse        median over the run's TIs of ``dag_file_parse_ms`` from the task logs (the task
               process parses the DAG file before running the task; inside the TI duration)
Variants alternate within each repetition (the order rotates); ratios are medians against the
TaskFlow baseline of the same invocation, plus per-repetition paired ratios. The load average after
each run is recorded: the machine is shared. A markdown report (command, versions, table, every
run) is written to ``--out`` after each repetition.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import Row, loadavg  # noqa: E402
from benchmarks.bench_step_overhead import flow_source, taskflow_source  # noqa: E402
from benchmarks.run_all import machine, print_table, versions  # noqa: E402
from tests.fixtures.airflow_stack import TASK_PRELOAD_ENV, AirflowStack, start_stack  # noqa: E402
from tests.fixtures.postgres import start_postgres  # noqa: E402

VARIANTS = ("taskflow", "fresh", "warm")
FLOW_HEADER = """import os

os.environ["AIRFLOW__ML_PROVIDER__LOCAL_WARM_START"] = "{warm}"  # read by this DAG's task processes

from airflow_ml_provider import FlowSpec, step  # airflow dag
"""


def dag_id(bench: str, variant: str, size: int) -> str:
    return f"bench_{bench}{size}_{variant}"


def linear_flow(size: int, variant: str) -> str:
    cls = dag_id("linear", variant, size)  # the class name is the dag id
    header = FLOW_HEADER.format(warm=variant == "warm")
    return flow_source(size, cls).replace("{IMPORT}", header)


def wide_flow(width: int, variant: str) -> str:
    return (
        FLOW_HEADER.format(warm=variant == "warm")
        + f"""

class {dag_id("wide", variant, width)}(FlowSpec):
    @step
    def start(self):
        self.items = list(range({width}))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""
    )


def wide_taskflow(width: int) -> str:
    name = dag_id("wide", "taskflow", width)
    return f'''"""start -> body.expand() over {width} items -> join (reducer) -> end (benchmark)."""
from airflow.sdk import dag, task


@dag(dag_id="{name}", schedule=None, catchup=False)
def {name}():
    @task
    def start():
        return list(range({width}))

    @task
    def body(item):
        return item

    @task
    def join(values):
        return sum(values)

    @task
    def end():
        pass

    join(body.expand(item=start())) >> end()


{name}()
'''


def probe_flow(variant: str, out: Path) -> str:
    return (
        FLOW_HEADER.format(warm=variant == "warm")
        + f"""import sys


class bench_probe_{variant}(FlowSpec):
    @step
    def start(self):
        warm = "airflow_ml_provider.runtime.warm_start" in sys.modules
        with open({str(out / variant)!r}, "w") as fh:
            fh.write(str(warm))
        self.next(self.end)

    @step
    def end(self):
        pass
"""
    )


_PARSE_MS = re.compile(r'"dag_file_parse_ms":\s*(\d+)')  # the task process's "Worker startup parse complete"


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else float("nan")


def run_once(stack: AirflowStack, dag: str, poll: float, timeout: float) -> dict:
    """Trigger ``dag``, wait for the end, read the run and its task instances."""
    t0 = time.time()
    run_id = stack.trigger(dag)
    state = stack.wait_for(
        f"{dag} {run_id}", lambda: (s := stack.run_state(dag, run_id)) in ("success", "failed") and s,
        timeout=timeout, interval=poll,
    )  # fmt: skip
    seen = time.time() - t0
    status, run = stack.request("GET", f"/api/v2/dags/{dag}/dagRuns/{stack_quote(run_id)}")
    assert status == 200, run
    tis = stack.task_instances(dag, run_id)
    spans = [(ti["task_id"], _ts(ti["start_date"]), _ts(ti["end_date"])) for ti in tis]
    logs = (stack.home / "logs" / f"dag_id={dag}" / f"run_id={run_id}").rglob("attempt=*.log")
    parse_ms = [float(m) for log in logs for m in _PARSE_MS.findall(log.read_text(errors="replace"))]
    return {
        "parse": statistics.median(parse_ms) / 1000 if parse_ms else float("nan"),
        "dag": dag, "run_id": run_id, "state": state, "seen": seen, "tasks": len(tis),
        "wall": _ts(run["end_date"]) - _ts(run["queued_at"]),
        "states": sorted({ti["state"] for ti in tis}),
        "durations": {task: [e - s for t, s, e in spans if t == task] for task in {t for t, _, _ in spans}},
    }  # fmt: skip


def stack_quote(run_id: str) -> str:
    import urllib.parse

    return urllib.parse.quote(run_id, safe="")


def check_probes(stack: AirflowStack, probe_dir: Path, timeout: float) -> str:
    lines = []
    for variant in ("fresh", "warm"):
        result = run_once(stack, f"bench_probe_{variant}", 1.0, timeout)
        assert result["state"] == "success", (result, stack.log_tail("scheduler"))
        seen = (probe_dir / variant).read_text()
        expected = str(variant == "warm")
        assert seen == expected, f"probe {variant}: step warm-started = {seen}, expected {expected}"
        lines.append(f"probe {variant}: step forked from the warm starter = {seen}")
    return "; ".join(lines)


def _all(r: dict) -> list[float]:
    return [d for durations in r["durations"].values() for d in durations]


def _wall(r: dict) -> float:
    return r["wall"]


def _variant_rows(title: str, bench: str, variant: str, ok: dict, vloads: list[str]) -> list[Row]:
    """The rows of one variant; ``ok`` maps each variant to its runs (None where a run failed)."""
    out: list[Row] = []
    runs = ok[variant]
    base = None if variant == "taskflow" else "taskflow"

    def row(metric: str, fn, note: str, **kw) -> None:
        out.append(Row(title, variant, metric, [fn(r) for r in runs if r is not None], note=note, **kw))

    def paired(metric: str, other: str, note: str) -> None:
        pairs = zip(runs, ok.get(other, []), strict=False)
        values = [a["wall"] / b["wall"] for a, b in pairs if a is not None and b is not None]
        out.append(Row(title, variant, metric, values, unit="x", note=note))

    tasks = "/".join(str(n) for n in sorted({r["tasks"] for r in runs if r is not None}))
    if bench == "linear":
        row("per-task overhead", lambda r: r["wall"] / r["tasks"], f"wall / tasks; {tasks} task instances",
            baseline=base, loads=vloads)  # fmt: skip
        row("wall", _wall, "trigger to success (run end_date - queued_at)", baseline=base)
    else:
        row("wall", _wall, f"trigger to success (run end_date - queued_at); {tasks} task instances",
            baseline=base, loads=vloads)  # fmt: skip
    if base:
        paired("wall / taskflow wall", "taskflow", "paired per repetition, then the median")
    if variant == "warm" and "fresh" in ok:
        paired("wall / fresh wall", "fresh", "paired per repetition: below 1 means the warm starter helps")
    if bench == "linear":
        row("TI duration median", lambda r: statistics.median(_all(r)), "task instance end - start", baseline=base)
        row("gap per task", lambda r: (r["wall"] - sum(_all(r))) / r["tasks"],
            "(wall - sum of TI durations) / tasks: scheduling, queueing", baseline=base)  # fmt: skip
    else:
        row("TI duration median", lambda r: statistics.median(r["durations"]["body"]),
            "task instance end - start, body tasks", baseline=base)  # fmt: skip
        row("sum of TI durations", lambda r: sum(_all(r)), "work in task instances (4 slots)", baseline=base)
    row("DAG-file parse in the task", lambda r: r["parse"],
        "median per TI of the task process's dag_file_parse_ms (task log), part of the TI duration",
        baseline=base)  # fmt: skip
    return out


def build_rows(results: dict, sizes: dict[str, int], loads: dict) -> list[Row]:
    rows: list[Row] = []
    for bench in [b for b in ("linear", "wide") if b in results]:
        size = sizes[bench]
        title = f"{size}-step linear flow" if bench == "linear" else f"{size}-wide foreach"
        ok = {v: [r if r["state"] == "success" else None for r in runs] for v, runs in results[bench].items()}
        for variant in [v for v in VARIANTS if v in ok]:
            rows += _variant_rows(title, bench, variant, ok, loads[bench][variant])
    return rows


def write_report(path: Path, header: list[str], rows: list[Row], log: list[str], done: bool) -> None:
    text = [*header, "", print_table(rows), "", "## Every run", "", "```", *log, "```", ""]
    if not done:
        text.insert(1, "\n**Partial: the run had not finished when this was written.**\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--width", type=int, default=200)
    parser.add_argument("--only", default="linear,wide")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between run-state polls")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds one run may take")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        f"{date.today().isoformat()}-running-scheduler.md")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument(
        "--no-preload", action="store_true", help="workers fork from the scheduler, not a preloaded server"
    )
    args = parser.parse_args()
    benches = [b for b in args.only.split(",") if b]
    variants = [v for v in args.variants.split(",") if v]
    sizes = {"linear": args.steps, "wide": args.width}
    command = "nice .venv/bin/python benchmarks/running_scheduler.py " + shlex.join(sys.argv[1:])
    vers = versions()
    header = [
        f"# Running-scheduler benchmark {date.today().isoformat()} (issue 17, item 3)",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {machine()}, niceness {os.nice(0)}",
        f"Load average at start: {loadavg()}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v != "-"),
        "Stack: api-server + scheduler + dag-processor, LocalExecutor (parallelism 4), PostgreSQL "
        f"(tests/fixtures), local artifact root; repeats {args.repeat}, linear {args.steps} steps, "
        f"wide {args.width}",
        "Task start-up: "
        + (
            "platform default (fork from the scheduler; --no-preload)"
            if args.no_preload
            else ", ".join(f"{k}={v}" for k, v in TASK_PRELOAD_ENV.items()) + " (docs/operations.md)"
        ),
    ]
    print("\n".join(header), flush=True)
    log: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        log.append(line)

    base = Path(tempfile.mkdtemp(prefix="mlp-bench-sched-"))
    probe_dir = base / "probe"
    probe_dir.mkdir()
    env = {
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",  # files never change: parse once
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "1024",
    }
    if args.no_preload:  # the stack's default is the recommended preload: undo it
        env.update({"AIRFLOW__SCHEDULER__MP_START_METHOD": "fork", "AIRFLOW__CORE__MP_FORKSERVER_PRELOAD": ""})
    results: dict = {b: {v: [] for v in variants} for b in benches}
    loads: dict = {b: {v: [] for v in variants} for b in benches}
    t_start = time.time()
    try:
        with start_postgres() as database_url:
            stack = start_stack(base, env, database_url=database_url)
            try:
                say(f"stack up in {time.time() - t_start:.0f} s (load {loadavg()})")
                files = {f"bench_probe_{v}.py": probe_flow(v, probe_dir) for v in ("fresh", "warm")}
                for v in variants:
                    if "linear" in benches:
                        files[f"{dag_id('linear', v, args.steps)}.py"] = (
                            taskflow_source(args.steps, dag_id("linear", v, args.steps))
                            if v == "taskflow" else linear_flow(args.steps, v)
                        )  # fmt: skip
                    if "wide" in benches:
                        files[f"{dag_id('wide', v, args.width)}.py"] = (
                            wide_taskflow(args.width) if v == "taskflow" else wide_flow(args.width, v)
                        )
                for name, source in files.items():
                    (stack.dags / name).write_text(source)
                for name in files:
                    dag = name.removesuffix(".py")
                    parsed = lambda d=dag: stack.request("GET", f"/api/v2/dags/{d}")[0] == 200  # noqa: E731
                    stack.wait_for(f"DAG {dag} parsed", parsed, timeout=600)
                    status, body = stack.request("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False})
                    assert status == 200, body
                say(f"{len(files)} DAGs parsed and unpaused at {time.time() - t_start:.0f} s (load {loadavg()})")
                say(check_probes(stack, probe_dir, args.timeout))
                for rep in range(args.repeat):
                    for bench in benches:
                        order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
                        for variant in order:
                            dag = dag_id(bench, variant, sizes[bench])
                            r = run_once(stack, dag, args.poll, args.timeout)
                            results[bench][variant].append(r)
                            loads[bench][variant].append(loadavg())
                            body = r["durations"].get("body") or _all(r)
                            say(f"rep {rep} {bench:<6} {variant:<8} {r['state']:<7} wall {r['wall']:7.1f} s "
                                f"(seen by client {r['seen']:6.1f} s), {r['tasks']} TIs, TI median "
                                f"{statistics.median(body):.2f} s, parse median {r['parse']:.2f} s, load {loadavg()}, "
                                f"t+{time.time() - t_start:.0f} s")  # fmt: skip
                    rows = build_rows(results, sizes, loads)
                    write_report(args.out, header, rows, log, done=False)
            finally:
                stack.stop()
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    say(f"total {time.time() - t_start:.0f} s; load at the end {loadavg()}")
    rows = build_rows(results, sizes, loads)
    print(print_table(rows))
    write_report(args.out, header, rows, log, done=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
