"""Steps die with their runner (``runtime/lifeline.py``, ``runtime/warm_start.py``).

``kill -9`` of ``python flow.py run`` gives it no chance to stop its steps. The kernel's
parent-death signal must: within seconds no process of the run remains (found by an environment
mark every descendant inherits), and a reader of the runner's output pipes sees end of file
instead of waiting for an orphaned step to finish its 60 s sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.airflow_local import VENV_BIN, airflow_env

# The parent-death signal is Linux-only; the project is tested on Linux (CI too), so these always run.

SLEEPY_FLOW = """
import os
import subprocess
import sys
import time
from pathlib import Path
from airflow_ml_provider import FlowSpec, step


class SleepyFlow(FlowSpec):
    @step
    def start(self):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("sleeping", flush=True)  # before the pids file: the test kills the runner once that exists
        time.sleep(1)  # for the runner to echo it
        Path(os.environ["PIDS_FILE"]).write_text(f"{os.getpid()} {child.pid}")
        time.sleep(60)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SleepyFlow()
"""


def _marked(mark: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() not in (entry / "environ").read_bytes():
                continue
            if "State:\tZ" in (entry / "status").read_text():
                continue
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append(int(entry.name))
    return found


def _read_to_eof(stream, into: list[bytes]) -> None:
    into.append(stream.read())


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "fresh"])
def test_sigkill_of_the_runner_ends_its_steps_and_its_output(tmp_path: Path, warm: bool) -> None:
    (tmp_path / "sleepy_flow.py").write_text(textwrap.dedent(SLEEPY_FLOW))
    pids_file = tmp_path / "pids"
    mark = f"ML_TEST_RUN_MARK_{uuid.uuid4().hex}"
    env = airflow_env(
        AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(tmp_path / "root"),
        AIRFLOW__ML_PROVIDER__LOCAL_WARM_START=str(warm),
        PIDS_FILE=str(pids_file),
        ML_TEST_RUN_MARK=mark,
    )
    runner = subprocess.Popen(
        [sys.executable, str(tmp_path / "sleepy_flow.py"), "run"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not pids_file.exists() or len(pids_file.read_text().split()) < 2:
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.1)
        step_pid, child_pid = map(int, pids_file.read_text().split())
        assert step_pid in _marked(mark)
        outputs: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        readers = [
            threading.Thread(target=_read_to_eof, args=(getattr(runner, name), into), daemon=True)
            for name, into in outputs.items()
        ]
        for reader in readers:
            reader.start()
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
        for reader in readers:
            reader.join(timeout=15)
        assert not any(r.is_alive() for r in readers), "the runner's output pipes stayed open after it was killed"
        assert b"sleeping" in outputs["stdout"][0]
        # A warm step's whole process group goes with it (its monitor kills the group); a fresh
        # step dies by itself, and the children it started are left to their own devices.
        untracked = set() if warm else {child_pid}
        # (a fresh step's log tee stores what the step wrote before it goes: allow it a moment on a busy machine)
        deadline = time.monotonic() + 30
        while set(_marked(mark)) - untracked and time.monotonic() < deadline:
            time.sleep(0.1)
        remaining = set(_marked(mark)) - untracked
        assert remaining == set(), f"processes of the killed run remain: {sorted(remaining)} (step was {step_pid})"
    finally:
        if runner.poll() is None:
            runner.kill()
        for pid in _marked(mark):  # leave nothing behind even when the test fails
            os.kill(pid, signal.SIGKILL)


def test_sigkill_of_airflow_dags_test_ends_its_local_steps(dags_folder: Path, tmp_path: Path) -> None:
    """The same under Airflow: a killed ``airflow dags test`` leaves no local step process behind."""
    (dags_folder / "sleepy_flow.py").write_text("# Airflow DAG\n" + textwrap.dedent(SLEEPY_FLOW))
    pids_file = tmp_path / "pids"
    mark = f"ML_TEST_RUN_MARK_{uuid.uuid4().hex}"
    env = airflow_env(PIDS_FILE=str(pids_file), ML_TEST_RUN_MARK=mark)
    runner = subprocess.Popen(
        [str(VENV_BIN / "airflow"), "dags", "test", "SleepyFlow"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not pids_file.exists() or len(pids_file.read_text().split()) < 2:
            assert runner.poll() is None, "airflow dags test ended before the step started"
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.2)
        step_pid, _child = map(int, pids_file.read_text().split())
        assert step_pid in _marked(mark)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _marked(mark) == [], f"processes outlived the killed airflow dags test (step was {step_pid})"
    finally:
        if runner.poll() is None:
            runner.kill()
        for pid in _marked(mark):
            os.kill(pid, signal.SIGKILL)
