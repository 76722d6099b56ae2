"""Task logs: what a step prints is stored per attempt and read back through the client and the CLI.

Runs real flows with ``python flow.py run`` (steps forked from the warm starter, and fresh), under
``airflow dags test`` and on an S3 root served by moto_server, then reads ``Task.stdout``,
``Task.stderr``, ``Task.loglines`` and ``python flow.py logs|dump`` as a user would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_ml_provider.client import Flow, Task, namespace, set_artifact_root
from tests.fixtures.airflow_local import airflow_env, dags_test

LOG_FLOW = """
import os, subprocess, sys
from airflow_ml_provider import FlowSpec, retry, step


class LogFlow(FlowSpec):
    @step
    def start(self):
        print("hello from start")
        sys.stderr.write("warning from start\\n")
        subprocess.run([sys.executable, "-c", "import os; os.write(1, b'from a child process\\\\n')"], check=True)
        os.write(2, b"raw fd 2 write\\n")
        self.items = ["a", "b"]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        print(f"item {self.input}")
        print("unicode: \\u5e74")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.flaky)

    @retry(times=1)
    @step
    def flaky(self):
        from airflow_ml_provider import current
        print(f"attempt {current.retry_count}")
        if current.retry_count == 0:
            raise ValueError("first attempt fails on purpose")
        self.next(self.end)

    @step
    def end(self):
        self.answer = 42


if __name__ == "__main__":
    LogFlow()
"""

SLOW_FLOW = """
import time
from airflow_ml_provider import FlowSpec, step, timeout


class SlowLogFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.slow)

    @timeout(seconds=8)
    @step
    def slow(self):
        print("early line", flush=True)
        time.sleep(60)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SlowLogFlow()
"""


def _run(folder: Path, root: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(folder / "log_flow.py"), *args],
        env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root, **env),
        capture_output=True, text=True, timeout=300, cwd=folder,
    )  # fmt: skip


def _run_id(result: subprocess.CompletedProcess) -> str:
    match = re.search(r"^\[ml-provider\] \w+ run (\S+) -> ", result.stdout, re.M)
    assert match, result.stdout[-3000:] + result.stderr[-3000:]
    return match.group(1)


@pytest.fixture
def store(tmp_path: Path):
    (tmp_path / "log_flow.py").write_text(textwrap.dedent(LOG_FLOW))
    set_artifact_root(str(tmp_path / "store"))
    namespace(None)
    yield tmp_path
    set_artifact_root(None)


def _check_log_flow(run_id: str, console: str) -> None:
    start = Task(f"LogFlow/{run_id}/start/1")
    assert "hello from start\n" in start.stdout
    assert "from a child process\n" in start.stdout  # fd 1 of a subprocess is captured too
    assert "warning from start\n" in start.stderr and "raw fd 2 write\n" in start.stderr
    assert "hello from start" not in start.stderr and "warning from start" not in start.stdout
    assert "[start/1]" not in start.stdout  # the runner's console prefix is not part of the log
    lines = list(start.loglines("stdout"))
    assert all(isinstance(at, datetime) and at.tzinfo is not None for at, _ in lines)
    stamp = next(at for at, line in lines if line == "hello from start")
    assert abs(datetime.now(timezone.utc) - stamp) < timedelta(minutes=5)
    assert [at for at, _ in lines] == sorted(at for at, _ in lines)
    assert start.stdout_size == len(start.stdout.encode())
    for task_id, item in (("2-0", "a"), ("2-1", "b")):
        each = Task(f"LogFlow/{run_id}/each/{task_id}")
        assert f"item {item}\n" in each.stdout and "unicode: \u5e74\n" in each.stdout
    # the console still shows every line, prefixed by the runner, as before
    assert "[start/1] hello from start" in console and "[start/1] warning from start" in console
    assert "[start/1] from a child process" in console and "[each/2-1] item b" in console
    # a failed attempt keeps its own log, traceback included; the retry has its own
    flaky = Flow("LogFlow")[run_id]["flaky"].task
    first, second = flaky.attempts()
    assert "attempt 0\n" in first.stdout and "Traceback (most recent call last)" in first.stderr
    assert "ValueError: first attempt fails on purpose" in first.stderr
    assert "attempt 1\n" in second.stdout and "Traceback" not in second.stderr
    assert flaky.attempt == 1 and flaky.stdout == second.stdout


@pytest.mark.parametrize("warm", ["True", "False"])
def test_local_run_stores_stdout_and_stderr_per_attempt(store: Path, warm: str) -> None:
    result = _run(store, str(store / "store"), "run", AIRFLOW__ML_PROVIDER__LOCAL_WARM_START=warm)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _check_log_flow(_run_id(result), result.stdout)


def test_logs_and_dump_cli(store: Path) -> None:
    root = str(store / "store")
    run_id = _run_id(_run(store, root, "run"))
    out = _run(store, root, "logs", f"{run_id}/start/1")
    assert out.returncode == 0, out.stderr
    assert "hello from start\n" in out.stdout and "warning from start\n" in out.stdout
    assert f"Dumping logs of run_id={run_id} step=start task_id=1" in out.stderr
    only_err = _run(store, root, "logs", f"{run_id}/start/1", "--stderr")
    assert "warning from start" in only_err.stdout and "hello from start" not in only_err.stdout
    step = _run(store, root, "logs", f"{run_id}/each", "--stdout", "--timestamps")
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} item a$", step.stdout, re.M), step.stdout
    assert "item b" in step.stdout and step.stderr.count("Dumping logs of") == 2
    first = _run(store, root, "logs", f"{run_id}/flaky/4", "--attempt", "0", "--stderr")
    assert "ValueError: first attempt fails on purpose" in first.stdout
    dump = _run(store, root, "dump", f"{run_id}/end/5")
    assert dump.returncode == 0, dump.stderr
    assert "answer [size: " in dump.stdout and "type: int] = 42" in dump.stdout
    assert f"Dumping output of run_id={run_id} step=end task_id=5" in dump.stderr
    start = _run(store, root, "dump", f"{run_id}/start")
    assert re.search(r"^items \[size: \d+ type: list\] = \['a', 'b'\]$", start.stdout, re.M), start.stdout
    only = _run(store, root, "dump", f"{run_id}/end/5", "--include", "answer", "--max-value-size", "0")
    assert only.stdout.strip().endswith("= < artifact too large >") and "items" not in only.stdout
    missing = _run(store, root, "logs", f"{run_id}/nope")
    assert missing.returncode == 1 and missing.stderr.strip() == f"error: no step LogFlow/{run_id}/nope"
    bad = _run(store, root, "dump", run_id)
    assert bad.returncode == 1 and "RUN_ID/STEP or RUN_ID/STEP/TASK_ID" in bad.stderr


def test_running_task_shows_its_log_and_a_killed_attempt_keeps_it(store: Path) -> None:
    (store / "log_flow.py").write_text(textwrap.dedent(SLOW_FLOW))
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(store / "store"),
                      AIRFLOW__ML_PROVIDER__HEARTBEAT_INTERVAL="1")  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(store / "log_flow.py"), "run"], env=env, cwd=store,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        seen, running = "", None
        deadline = time.monotonic() + 60
        while "early line" not in seen and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                run = Flow("SlowLogFlow").latest_run
            except KeyError:  # the run has not started yet
                continue
            if run is not None and "slow" in run:
                task = run["slow"].task
                seen = task.stdout
                running = task.status
        assert "early line\n" in seen, "the running task's log was not uploaded while it ran"
        assert running == "running"
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "[slow/2] early line" in output
    task = Flow("SlowLogFlow").latest_run["slow"].task
    assert task.status == "failed" and "early line\n" in task.stdout  # killed by @timeout


CRASH_FLOW = """
import ctypes
from airflow_ml_provider import FlowSpec, step


class CrashFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        print("Crash and burn!")
        ctypes.string_at(0)


if __name__ == "__main__":
    CrashFlow()
"""


def test_a_segfaulting_step_keeps_its_log(store: Path) -> None:
    (store / "log_flow.py").write_text(textwrap.dedent(CRASH_FLOW))
    result = _run(store, str(store / "store"), "run")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    end = Flow("CrashFlow").latest_run["end"].task
    assert end.status == "failed" and "SIGSEGV" in end.exception["message"]
    assert "Crash and burn!\n" in end.stdout  # no periodic upload ran: the tee stored it after the crash
    assert "Fatal Python error: Segmentation fault" in end.stderr
    assert "the step process ended without closing its log (crashed or killed)" in end.stderr


def test_log_is_cut_at_its_cap_with_a_note(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import os, sys
        from pathlib import Path
        from airflow_ml_provider.runtime.logcapture import LogCapture
        out = Path(sys.argv[1])
        def sink(stream, data):
            (out / stream).write_bytes(data)
        with LogCapture(sink, interval=60, limit=2000):
            for i in range(200):
                print(f"line {i:03d} " + "x" * 20)
        print("after the capture")
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                            timeout=60, env=airflow_env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 201 and "line 199 " in result.stdout  # the console got everything
    stored = (tmp_path / "stdout").read_bytes().decode()
    assert len(stored) <= 2000 + 200
    assert "line 000 " in stored and "line 199 " not in stored and "after the capture" not in stored
    assert stored.splitlines()[-1].endswith("[ml-provider] stdout cut at 2000 bytes: the rest was echoed "
                                            "to the console only")  # fmt: skip
    assert not (tmp_path / "stderr").exists()  # nothing written, nothing stored


def test_a_slow_console_loses_no_stored_line(tmp_path: Path) -> None:
    """The console reads nothing for 4 s while 500 KB wait in the pipes: the stored log is whole."""
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from airflow_ml_provider.runtime.logcapture import LogCapture
        out = Path(sys.argv[1])
        def sink(stream, data):
            (out / stream).write_bytes(data)
        with LogCapture(sink, interval=60):
            for i in range(5000):
                print(f"line {i:04d} " + "x" * 90)
        (out / "closed").write_text("yes")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=airflow_env())  # fmt: skip
    time.sleep(4)  # nobody reads the console meanwhile
    assert not (tmp_path / "closed").exists(), "the step must wait for its log, as its writes would have"
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.count(b"\n") == 5000
    stored = (tmp_path / "stdout").read_text().splitlines()
    assert len(stored) == 5000 and stored[-1].endswith("line 4999 " + "x" * 90)


def test_a_child_process_left_running_does_not_hold_the_step(tmp_path: Path) -> None:
    """A background child keeps fds 1 and 2 open after the step: the step still ends at once, its log whole."""
    script = textwrap.dedent("""
        import subprocess, sys, time
        from pathlib import Path
        from airflow_ml_provider.runtime.logcapture import LogCapture
        out = Path(sys.argv[1])
        def sink(stream, data):
            (out / stream).write_bytes(data)
        with LogCapture(sink, interval=60):
            print("before the child")
            code = "import time; time.sleep(1); print('from the child', flush=True); time.sleep(30)"
            child = subprocess.Popen([sys.executable, "-c", code])
            (out / "child").write_text(str(child.pid))
            print("last line of the step")
            started = time.monotonic()
        (out / "closed").write_text(f"{time.monotonic() - started:.2f}")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=airflow_env())  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "closed").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert float((tmp_path / "closed").read_text()) < 3
        stored = (tmp_path / "stdout").read_text()
        assert "before the child" in stored and "last line of the step" in stored
        time.sleep(1.5)
    finally:
        os.kill(int((tmp_path / "child").read_text()), signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert b"from the child" in out  # still echoed to the console, as without capture


AIRFLOW_FLOW = '''
"""Airflow DAG from a flow: task logs under airflow dags test."""
import sys
from airflow_ml_provider import FlowSpec, flow, step


@flow(dag_id="AirflowLogFlow")
class AirflowLogFlow(FlowSpec):
    @step
    def start(self):
        print("stdout under airflow")
        print("stderr under airflow", file=sys.stderr)
        self.next(self.end)

    @step
    def end(self):
        pass
'''


def test_airflow_dags_test_stores_task_logs(dags_folder: Path) -> None:
    (dags_folder / "airflow_log_flow.py").write_text(textwrap.dedent(AIRFLOW_FLOW))
    result = dags_test("AirflowLogFlow")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert "stdout under airflow" in log  # Airflow's task log still shows the step's output
    namespace(None)
    start = Flow("AirflowLogFlow").latest_run["start"].task
    assert "stdout under airflow\n" in start.stdout and "stderr under airflow\n" in start.stderr


def test_logs_on_an_s3_root(store: Path, bucket: str, raw_s3) -> None:
    root = f"s3://{bucket}/store"
    result = _run(store, root, "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_id = _run_id(result)
    set_artifact_root(root)
    _check_log_flow(run_id, result.stdout)
    keys = raw_s3.list_objects_v2(Bucket=bucket, Prefix=f"store/LogFlow/runs/{run_id}/steps/start/1/")
    names = sorted(k["Key"].rsplit("/", 1)[1] for k in keys["Contents"])
    assert "0.stdout.log" in names and "0.stderr.log" in names
    cli = _run(store, root, "logs", f"{run_id}/start/1", "--stdout")
    assert "hello from start" in cli.stdout
