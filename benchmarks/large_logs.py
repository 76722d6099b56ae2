"""Metaflow's large-log case under ``python flow.py run``: is echoing + storing task logs fast and steady?

    .venv/bin/python benchmarks/large_logs.py [--reps 3] [--tasks 32] [--lines 10000] [--cold] [--keep]

The flow is Metaflow's ``large_mflog`` core test shape: start -> inner x ``--tasks`` (a foreach)
-> join -> end; each inner task prints ``--lines`` lines to stdout (``print``) and as many to
stderr (``sys.stderr.write``). Every repetition runs in a fresh artifact root with the run's
console output going to a file, as a CI job's would. For each repetition it prints the wall time,
the load average and checks, through the client, that every inner task's ``stdout`` and
``stderr`` hold exactly ``--lines`` lines of the right stream in order (so a fast but lossy
capture cannot pass). A baseline run of the same flow with 0 lines separates the logging cost
from process start-up. ``--cold`` turns the warm starter off (``LOCAL_WARM_START=False``).
Prints min / median / max of the wall times and of the client's read of all the logs.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLOW = """
import sys
from airflow_ml_provider import FlowSpec, current, step

NUM_FOREACH = {tasks}
NUM_LINES = {lines}


class LargeLogFlow(FlowSpec):
    @step
    def start(self):
        self.arr = list(range(NUM_FOREACH))
        self.next(self.inner, foreach="arr")

    @step
    def inner(self):
        task_id = current.task_id
        for i in range(NUM_LINES):
            print("prefix %s stdout %d" % (task_id, i))
            sys.stderr.write("prefix %s stderr %d\\n" % (task_id, i))
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LargeLogFlow()
"""


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_once(base: Path, tasks: int, lines: int, cold: bool) -> tuple[float, float, float, str]:
    """``(wall s, client read s, longest inner task's duration_s, run id)`` of one fresh run.

    Raises if a log is wrong. ``duration_s`` is the runtime's own measure of an attempt (user code
    included, so a step blocked on a full output pipe shows here).
    """
    folder = Path(tempfile.mkdtemp(dir=base))
    (folder / "flow.py").write_text(FLOW.format(tasks=tasks, lines=lines))
    root = folder / "store"
    env = dict(os.environ, AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root))
    if cold:
        env["AIRFLOW__ML_PROVIDER__LOCAL_WARM_START"] = "False"
    with open(folder / "console.log", "wb") as console:
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(folder / "flow.py"), "run"], env=env, cwd=folder,
                              stdout=console, stderr=subprocess.STDOUT).returncode  # fmt: skip
        wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"run failed ({code}): see {folder / 'console.log'}")
    from airflow_ml_provider.client import Flow, namespace, set_artifact_root

    set_artifact_root(str(root))
    namespace(None)
    started = time.perf_counter()
    run = Flow("LargeLogFlow").latest_run
    for task in run["inner"].tasks():
        for stream in ("stdout", "stderr"):
            got = [line for line in getattr(task, stream).splitlines() if line.startswith("prefix ")]
            want = [f"prefix {task.id} {stream} {i}" for i in range(lines)]
            if got != want:
                raise SystemExit(f"{task.pathspec} {stream}: {len(got)} lines, not the {lines} expected")
    read = time.perf_counter() - started
    longest = max(float(t.metadata.get("duration_s") or 0) for t in run["inner"].tasks())
    console_lines = (folder / "console.log").read_bytes().count(b"\n")
    if console_lines < 2 * tasks * lines:
        raise SystemExit(f"the console got {console_lines} lines, fewer than the {2 * tasks * lines} printed")
    set_artifact_root(None)
    return wall, read, longest, run.id


def capture_overhead(base: Path, times: int) -> list[float]:
    """Seconds of one ``LogCapture`` around a one-line step (fork of the tee, pipes, final upload)."""
    from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
    from airflow_ml_provider.runtime.logcapture import LogCapture

    store = FlowDatastore("OverheadFlow", LocalBackend(str(base / "overhead")))
    out = []
    for i in range(times):
        started = time.perf_counter()
        with LogCapture(lambda stream, data, i=i: store.write_log("r", "s", str(i), 0, stream, data), interval=60):
            os.write(1, b"one line\n")
        out.append(time.perf_counter() - started)
    return out


def summary(values: list[float]) -> str:
    return f"min {min(values):.2f}  median {statistics.median(values):.2f}  max {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--cold", action="store_true", help="fresh step processes (no warm starter)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--capture-overhead", type=int, default=0, metavar="N",
                        help="only time N captures of a one-line step, in this process (ms)")  # fmt: skip
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mlp-large-logs-"))
    print(f"# large logs: {args.tasks} tasks x {args.lines} stdout + {args.lines} stderr lines, "
          f"{'cold' if args.cold else 'warm'} start, {os.cpu_count()} cores; load average {loadavg()}")  # fmt: skip
    try:
        if args.capture_overhead:
            per = [t * 1000 for t in capture_overhead(base, args.capture_overhead)]
            print(f"capture per attempt  {summary(per)}  (ms; {args.capture_overhead} times; load {loadavg()})")
            return
        baseline, _, _, _ = run_once(base, args.tasks, 0, args.cold)
        print(f"baseline (0 lines): {baseline:.2f}s  load {loadavg()}")
        walls, reads, steps = [], [], []
        for rep in range(args.reps):
            wall, read, longest, run_id = run_once(base, args.tasks, args.lines, args.cold)
            walls.append(wall)
            reads.append(read)
            steps.append(longest)
            print(f"rep {rep + 1}: wall {wall:.2f}s  longest inner task {longest:.2f}s  client read of all logs "
                  f"{read:.2f}s  load {loadavg()}  ({run_id})")  # fmt: skip
        print(f"wall           {summary(walls)}  (s; baseline with 0 lines {baseline:.2f})")
        print(f"logging cost   {summary([w - baseline for w in walls])}  (s; wall - baseline)")
        print(f"longest task   {summary(steps)}  (s; an inner task's duration_s)")
        print(f"client read    {summary(reads)}  (s; Task.stdout + Task.stderr of {args.tasks} tasks)")
        print(f"load average at the end: {loadavg()}")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
