"""Warm-started steps behave like freshly started ones (``runtime/warm_start.py``).

Each flow here runs twice through ``python flow.py run``, with ``local_warm_start`` on and off,
and what the step saw of its process is compared: environment, working directory, ``sys.argv``,
its own session, no Airflow import. Then the starter's failure modes: it dies (steps fall back to
fresh processes), a step is terminated (its whole process group goes), the run is interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_ml_provider.client import Flow, namespace, set_artifact_root
from airflow_ml_provider.runtime import warm_start
from tests.fixtures.airflow_local import airflow_env

PROBE_FLOW = """
import os
import sys
from airflow_ml_provider import FlowSpec, step


class ProbeFlow(FlowSpec):
    @step
    def start(self):
        self.seen = {
            "env": os.environ.get("PROBE_VALUE"),
            "cwd": os.getcwd(),
            "argv": sys.argv[1:],
            "own_session": os.getsid(0) == os.getpid(),
            "airflow_imported": any(m == "airflow" or m.startswith("airflow.") for m in sys.modules),
            "path0": sys.path[0],
            "forked_from_starter": "airflow_ml_provider.runtime.warm_start" in sys.modules,
        }
        self.pid = os.getpid()
        self.next(self.end)

    @step
    def end(self):
        print("end saw", self.seen["env"], "from pid", self.pid)


if __name__ == "__main__":
    ProbeFlow()
"""


def run_flow(folder: Path, root: Path, filename: str, warm: bool, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(folder / filename), "run"],
        env=airflow_env(
            AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root),
            AIRFLOW__ML_PROVIDER__LOCAL_WARM_START=str(warm),
            **env,
        ),
        capture_output=True, text=True, timeout=300, cwd=folder,
    )  # fmt: skip


def latest_seen(root: Path) -> dict:
    return latest_run_says(root, "ProbeFlow", lambda run: run["start"].task.data.seen)


def latest_run_says(root: Path, flow: str, read: Any) -> Any:
    """``read(run)`` of the flow's latest run in ``root``, through the client as a user reads it."""
    set_artifact_root(str(root))
    namespace(None)
    try:
        return read(Flow(flow).latest_run)
    finally:  # the client's root is process-wide: later tests read their own
        namespace(None)
        set_artifact_root(None)


def test_a_warm_step_sees_what_a_fresh_step_sees(tmp_path: Path) -> None:
    (tmp_path / "probe_flow.py").write_text(textwrap.dedent(PROBE_FLOW))
    seen = {}
    for warm in (True, False):
        result = run_flow(tmp_path, tmp_path / f"root-{warm}", "probe_flow.py", warm, PROBE_VALUE=f"v-{warm}")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert f"end saw v-{warm}" in result.stdout
        seen[warm] = latest_seen(tmp_path / f"root-{warm}")
    warm_seen, fresh_seen = seen[True], seen[False]
    assert warm_seen["env"] == "v-True" and fresh_seen["env"] == "v-False"
    assert warm_seen["forked_from_starter"] is True and fresh_seen["forked_from_starter"] is False
    assert warm_seen["own_session"] is True and fresh_seen["own_session"] is True
    assert warm_seen["airflow_imported"] is False
    for key in ("cwd", "path0"):
        assert warm_seen[key] == fresh_seen[key], key
    # same arguments apart from the run id and the artifact root's run-specific values
    assert warm_seen["argv"][0] == fresh_seen["argv"][0] == "step"
    assert [a for a in warm_seen["argv"] if a.startswith("--")] == [a for a in fresh_seen["argv"] if a.startswith("--")]


def test_steps_fall_back_to_fresh_processes_when_the_starter_dies(tmp_path: Path) -> None:
    (tmp_path / "probe_flow.py").write_text(textwrap.dedent(PROBE_FLOW))
    messages: list[str] = []
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(tmp_path / "root"), PYTHONUNBUFFERED="1")
    argv = [sys.executable, "-m", "airflow_ml_provider.runtime", "step", "--help"]
    first = warm_start.start_step(argv, env, log=messages.append)
    assert isinstance(first, warm_start.WarmProcess)
    first.stdout.read()
    assert first.wait(timeout=60) == 0
    starter = warm_start._starters[warm_start.startup_key(argv[0], env)]
    assert starter is not None
    starter._proc.kill()
    starter._proc.wait()
    second = warm_start.start_step(argv, env, log=messages.append)
    assert isinstance(second, subprocess.Popen), "a dead starter must not fail the step"
    assert "usage" in second.stdout.read()
    assert second.wait(timeout=60) == 0
    assert any("warm start failed" in m for m in messages), messages


def test_prestart_brings_up_the_starter_that_the_first_step_then_uses(tmp_path: Path) -> None:
    """``python flow.py run`` starts the starter before its store check (local_runner.prestart_steps),
    so the starter's imports overlap it; the first step must use that starter, not start another."""
    flow = tmp_path / "probe_flow.py"
    flow.write_text(textwrap.dedent(PROBE_FLOW))
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(tmp_path / "root"), PYTHONUNBUFFERED="1")
    key = warm_start.startup_key(sys.executable, env, str(flow))
    assert key not in warm_start._starters
    warm_start.prestart(sys.executable, env, str(flow))
    starter = warm_start._starters[key]
    assert starter is not None and starter._proc.poll() is None
    warm_start.prestart(sys.executable, env, str(flow))  # idempotent
    assert warm_start._starters[key] is starter
    messages: list[str] = []
    argv = [sys.executable, "-m", "airflow_ml_provider.runtime", "step", "--flow-file", str(flow), "--help"]
    try:
        proc = warm_start.start_step(argv, env, log=messages.append)
        assert isinstance(proc, warm_start.WarmProcess)
        assert "usage" in proc.stdout.read()
        assert proc.wait(timeout=60) == 0
        assert warm_start._starters[key] is starter and messages == []
    finally:
        starter.close()
        warm_start._starters.pop(key, None)


def test_a_prestarted_starter_that_dies_before_answering_leaves_steps_to_fresh_processes(tmp_path: Path) -> None:
    flow = tmp_path / "probe_flow.py"
    flow.write_text(textwrap.dedent(PROBE_FLOW))
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(tmp_path / "root"), PYTHONUNBUFFERED="1")
    key = warm_start.startup_key(sys.executable, env, str(flow))
    warm_start.prestart(sys.executable, env, str(flow))
    starter = warm_start._starters[key]
    assert starter is not None
    starter._proc.kill()  # before the first step asked it anything
    starter._proc.wait()
    messages: list[str] = []
    argv = [sys.executable, "-m", "airflow_ml_provider.runtime", "step", "--flow-file", str(flow), "--help"]
    try:
        for _ in range(2):
            proc = warm_start.start_step(argv, env, log=messages.append)
            assert isinstance(proc, subprocess.Popen), "a dead starter must not fail the step"
            assert "usage" in proc.stdout.read()
            assert proc.wait(timeout=60) == 0
        assert len(messages) == 1 and "warm start failed" in messages[0], messages  # said once
    finally:
        warm_start._starters.pop(key, None)


EXIT_FLOW = """
import atexit
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from airflow_ml_provider import FlowSpec, step

OUT = Path(os.environ["MARKS_DIR"])
LEFT_OPEN = None
POOL = None  # an executor nobody shuts down: interpreter exit stops its idle workers


def _late_write():
    time.sleep(0.5)
    (OUT / "thread").write_text("joined")


class ExitFlow(FlowSpec):
    @step
    def start(self):
        global LEFT_OPEN, POOL
        LEFT_OPEN = open(OUT / "left_open", "w")  # never closed by the step
        POOL = ThreadPoolExecutor(2)
        POOL.submit((OUT / "pool").write_text, "ran").result()
        LEFT_OPEN.write("buffered")
        atexit.register(lambda: (OUT / "atexit").write_text("ran"))
        threading.Thread(target=_late_write).start()  # non-daemon: the process waits for it
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ExitFlow()
"""


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "fresh"])
def test_a_step_process_ends_like_an_interpreter(tmp_path: Path, warm: bool) -> None:
    """Threads joined, atexit handlers run, files left open flushed, an executor left running
    stopped (it hung the warm exit once): also with the fast warm exit."""
    (tmp_path / "exit_flow.py").write_text(textwrap.dedent(EXIT_FLOW))
    marks = tmp_path / "marks"
    marks.mkdir()
    result = run_flow(tmp_path, tmp_path / "root", "exit_flow.py", warm, MARKS_DIR=str(marks))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (marks / "thread").read_text() == "joined"
    assert (marks / "atexit").read_text() == "ran"
    assert (marks / "left_open").read_text() == "buffered"
    assert (marks / "pool").read_text() == "ran"


SLEEPER_FLOW = """
import os
import subprocess
import sys
import time
from pathlib import Path
from airflow_ml_provider import FlowSpec, step


class SleeperFlow(FlowSpec):
    @step
    def start(self):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        Path(os.environ["PIDS_FILE"]).write_text(f"{os.getpid()} {child.pid}")
        print("sleeping", flush=True)
        time.sleep(300)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SleeperFlow()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


@pytest.mark.parametrize(
    ("warm", "sig"),
    [(True, signal.SIGINT), (False, signal.SIGINT), (True, signal.SIGTERM)],
    ids=["warm-ctrl-c", "fresh-ctrl-c", "warm-sigterm"],
)
def test_interrupting_a_local_run_stops_its_steps_and_their_children(
    tmp_path: Path, warm: bool, sig: signal.Signals
) -> None:
    (tmp_path / "sleeper_flow.py").write_text(textwrap.dedent(SLEEPER_FLOW))
    pids_file = tmp_path / "pids"
    env = airflow_env(
        AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(tmp_path / "root"),
        AIRFLOW__ML_PROVIDER__LOCAL_WARM_START=str(warm),
        PIDS_FILE=str(pids_file),
    )
    # SIGINT as a terminal gives it: a test session started in the background (`pytest &`) ignores
    # SIGINT, and an ignored signal stays ignored across exec, so Python would not see Ctrl-C
    runner = subprocess.Popen(
        [sys.executable, str(tmp_path / "sleeper_flow.py"), "run"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not pids_file.exists() or len(pids_file.read_text().split()) < 2:
            assert runner.poll() is None, runner.stdout.read() if runner.stdout else ""
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.2)
        step_pid, child_pid = map(int, pids_file.read_text().split())
        runner.send_signal(sig)  # Ctrl-C, or `kill`
        out, _ = runner.communicate(timeout=60)
        assert runner.returncode != 0, out
        assert "recorded as failed" in out and "Traceback" not in out, out
        # The store says what happened: the run failed, the step's attempt was interrupted.
        (run_json,) = (tmp_path / "root").glob("SleeperFlow/runs/*/run.json")
        assert latest_run_says(tmp_path / "root", "SleeperFlow", lambda run: run.status) == "failed"
        attempt = json.loads((run_json.parent / "steps" / "start" / "1" / "0.json").read_text())
        assert attempt["status"] == "failed" and attempt["exception"]["type"] == "StepInterrupted"
        assert "interrupted" in attempt["exception"]["message"]
        deadline = time.monotonic() + 20
        while (_alive(step_pid) or _alive(child_pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(step_pid), f"step process {step_pid} outlived the interrupted run"
        assert not _alive(child_pid), f"the step's child {child_pid} outlived the interrupted run"
    finally:
        if runner.poll() is None:
            runner.kill()


DEAD_PROXY_FLOW = '''
import weakref
from airflow_ml_provider import FlowSpec, step

KEPT = []  # alive at exit, so the step's exit walks these objects


class Gone:
    pass


class Touchy:
    """An object that raises on any attribute read, ``__class__`` included."""

    def __getattribute__(self, name):
        raise RuntimeError(f"no {name} for you")


class DeadProxyFlow(FlowSpec):
    @step
    def start(self):
        target = Gone()
        KEPT.append(weakref.proxy(target))  # what boto3/botocore leave behind on S3
        del target  # the proxy is now dead: isinstance() on it raises ReferenceError
        KEPT.append(Touchy())
        self.next(self.end)

    @step
    def end(self):
        print("end ran")


if __name__ == "__main__":
    DeadProxyFlow()
'''


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "fresh"])
def test_a_step_leaving_dead_weakref_proxies_behind_exits_cleanly(tmp_path: Path, warm: bool) -> None:
    """A dead ``weakref.proxy`` (or an object raising on attribute access) alive at exit is no error."""
    (tmp_path / "dead_proxy_flow.py").write_text(textwrap.dedent(DEAD_PROXY_FLOW))
    result = run_flow(tmp_path, tmp_path / "root", "dead_proxy_flow.py", warm)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "ReferenceError" not in output and "Traceback" not in output, output[-3000:]
    assert "end ran" in result.stdout
    status, attempts = latest_run_says(
        tmp_path / "root", "DeadProxyFlow", lambda run: (run.status, len(run["start"].task.attempts()))
    )
    assert (status, attempts) == ("success", 1)
