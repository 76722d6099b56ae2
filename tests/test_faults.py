"""Faults injected into real runs (``python flow.py run`` subprocesses), checked as a user would.

SIGKILL of the runner and of a step, an S3 outage mid-step (a proxy in front of moto_server that
drops every connection), a full disk (a 3 MB tmpfs), 200 foreach tasks of which half fail at once,
and two runs of one flow at the same time. Each test asserts that nothing is lost and that what
the client and ``show`` say is true and clear.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_ml_provider.client import Flow, Run, namespace, set_artifact_root
from tests.fixtures.airflow_local import airflow_env

FAST_LIVENESS = {"AIRFLOW__ML_PROVIDER__HEARTBEAT_INTERVAL": "0.5", "AIRFLOW__ML_PROVIDER__HEARTBEAT_TIMEOUT": "4"}

KILL_FLOW = """
import os, time
from airflow_ml_provider import FlowSpec, step

class KillFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.slow)

    @step
    def slow(self):
        with open(os.environ["ML_TEST_PID_FILE"], "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(float(os.environ.get("ML_TEST_SLEEP", "0")))
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        print("y is", self.y)

if __name__ == "__main__":
    KillFlow()
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key, value in FAST_LIVENESS.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "kill_flow.py").write_text(textwrap.dedent(KILL_FLOW))
    root = tmp_path / "store"
    set_artifact_root(str(root))
    namespace(None)
    yield tmp_path
    set_artifact_root(None)


def _env(project: Path, root: str | None = None, **extra: str) -> dict[str, str]:
    return airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root or str(project / "store"),
                       ML_TEST_PID_FILE=str(project / "step.pid"), **FAST_LIVENESS, **extra)  # fmt: skip


def _start(project: Path, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(project / "kill_flow.py"), *args], env=env, cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert proc.poll() is None, proc.stdout.read()[-3000:] if proc.stdout else ""
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.1)
    return int(path.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state != "Z"


@pytest.mark.parametrize("where", ["local", "s3"])
def test_sigkill_of_the_runner_fails_the_run_within_the_timeout_and_resume_works(
    project: Path, where: str, request: pytest.FixtureRequest
) -> None:
    root = None
    if where == "s3":
        root = f"s3://{request.getfixturevalue('bucket')}/store"
        set_artifact_root(root)
    proc = _start(project, "run", env=_env(project, root, ML_TEST_SLEEP="300"))
    step_pid = _wait_for(project / "step.pid", proc)
    run_id = Flow("KillFlow").latest_run.id
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 20
    while _alive(step_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(step_pid), "the step outlived its runner"
    time.sleep(5)  # past the 4 s heartbeat timeout
    run = Run(f"KillFlow/{run_id}")
    assert run.status == "failed" and run.finished and not run.successful
    assert run.status_reason.startswith("no heartbeat since ")
    slow = run["slow"].task
    assert slow.status == "failed" and slow.status_reason.startswith("no heartbeat since ")
    assert run["start"].task.data.x == 1  # what finished before the kill is kept
    (project / "step.pid").unlink()
    resume = [sys.executable, str(project / "kill_flow.py"), "resume", "--origin-run-id", run_id]
    resumed = subprocess.run(resume, env=_env(project, root), cwd=project, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    latest = Flow("KillFlow").latest_successful_run
    assert latest.id != run_id and latest.data.y == 2


def test_sigkill_of_a_step_is_a_recorded_failed_attempt(project: Path) -> None:
    proc = _start(project, "run", env=_env(project, ML_TEST_SLEEP="300"))
    step_pid = _wait_for(project / "step.pid", proc)
    os.kill(step_pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    run = Flow("KillFlow").latest_run
    slow = run["slow"].task
    assert slow.status == "failed" and slow.exception["type"] == "StepInterrupted"
    assert "SIGKILL" in slow.exception["message"]
    assert run.status == "failed" and "slow/2 failed" in run.status_reason
    assert "Traceback" not in out.split("KillFlow run")[-1].split("[slow/2]")[0]


def test_a_segfaulting_step_says_so_in_its_record_and_its_stderr(project: Path) -> None:
    (project / "kill_flow.py").write_text(
        textwrap.dedent(KILL_FLOW).replace(
            "        self.y = self.x + 1\n",
            '        print("Crash and burn!", flush=True)\n        import ctypes; ctypes.string_at(0)\n',
        )
    )
    proc = _start(project, "run", env=_env(project))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    slow = Flow("KillFlow").latest_run["slow"].task
    assert slow.status == "failed" and slow.exception["type"] == "StepInterrupted"
    assert slow.exception["message"] == "the step process was killed by SIGSEGV (segmentation fault)"
    assert "Crash and burn!" in slow.stdout  # what it printed before it crashed is kept
    last = slow.stderr.rstrip("\n").rsplit("\n", 1)[-1]
    assert last == "[ml-provider] the attempt failed: the step process was killed by SIGSEGV (segmentation fault)"
    assert "segmentation fault" in out


def test_s3_outage_mid_step_fails_the_run_with_one_line_and_loses_nothing(project: Path, fault_proxy,
                                                                          raw_s3, bucket: str) -> None:  # fmt: skip
    root = f"s3://{bucket}/store"
    set_artifact_root(root)
    env = _env(project, root, ML_TEST_SLEEP="3")
    proc = _start(project, "run", env=env)
    _wait_for(project / "step.pid", proc)
    fault_proxy.fail("reset", times=10**9)  # S3 is gone from here on
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0
    last = out.strip().splitlines()[-1]
    assert "Traceback" not in last and fault_proxy.url.removeprefix("http://") in out
    fault_proxy.faults.clear()  # S3 is back: what was written before the outage is all there
    time.sleep(5)
    run = Flow("KillFlow").latest_run
    assert run["start"].task.data.x == 1
    assert run.status == "failed"


def test_a_transient_outage_is_retried_and_the_run_succeeds(project: Path, fault_proxy, raw_s3, bucket: str) -> None:
    root = f"s3://{bucket}/store"
    set_artifact_root(root)
    proc = _start(project, "run", env=_env(project, root, ML_TEST_SLEEP="2"))
    _wait_for(project / "step.pid", proc)
    fault_proxy.fail("503", times=3)
    fault_proxy.fail("reset", times=3)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert Flow("KillFlow").latest_successful_run.data.y == 2
    assert fault_proxy.injected, "no fault was injected: the test proved nothing"


FULL_DISK_FLOW = """
import os
from airflow_ml_provider import FlowSpec, step

class DiskFlow(FlowSpec):
    @step
    def start(self):
        self.small = "kept"
        self.next(self.big)

    @step
    def big(self):
        self.blob = os.urandom(8 * 1024 * 1024)  # does not fit on the 3 MB disk
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    DiskFlow()
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 0, f"the full-disk test needs root to mount a tmpfs: {result.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_the_step_clearly_and_keeps_what_was_stored(project: Path, small_disk: Path) -> None:
    (project / "disk_flow.py").write_text(textwrap.dedent(FULL_DISK_FLOW))
    root = str(small_disk / "store")
    result = subprocess.run([sys.executable, str(project / "disk_flow.py"), "run"], env=_env(project, root),
                            cwd=project, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode != 0
    assert "No space left on device" in result.stdout + result.stderr
    set_artifact_root(root)
    run = Flow("DiskFlow").latest_run
    assert run.status == "failed"
    assert run["start"].task.data.small == "kept"
    big = run["big"].task
    assert big.status == "failed" and "No space left" in big.exception["message"]
    assert not list(Path(root).rglob(".tmp-*")), "a failed write left a temporary file behind"


WIDE_FLOW = """
from airflow_ml_provider import FlowSpec, step

class HalfFailFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(200))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input % 2:
            raise ValueError(f"odd item {self.input}")
        self.out = self.input * 10
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.out for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    HalfFailFlow()
"""


def test_200_wide_foreach_with_half_failing_records_every_attempt(project: Path) -> None:
    (project / "wide.py").write_text(textwrap.dedent(WIDE_FLOW))
    result = subprocess.run([sys.executable, str(project / "wide.py"), "run", "--max-workers", "8"],
                            env=_env(project), cwd=project, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert result.returncode != 0
    run = Flow("HalfFailFlow").latest_run
    tasks = run["work"].tasks()
    assert len(tasks) == 200
    failed = sorted(t.index for t in tasks if t.status == "failed")
    assert failed == list(range(1, 200, 2))
    assert all(t.data.out == t.index * 10 for t in tasks if t.status == "success")
    bad = tasks[1].exception  # Metaflow's object, and the stored dict's keys
    assert (bad.type, bad.exception, bad["type"]) == ("builtins.ValueError", "odd item 1", "ValueError")
    assert "Traceback" in bad.stacktrace and str(bad).rstrip().endswith("ValueError: odd item 1")
    assert run.status == "failed" and run.status_reason.startswith("work/")
    assert "join" not in run


TWO_RUNS_FLOW = """
import time
from airflow_ml_provider import FlowSpec, Parameter, step

class TwinFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.seen = self.alpha
        time.sleep(1)
        self.next(self.end)

    @step
    def end(self):
        self.result = self.seen * 100

if __name__ == "__main__":
    TwinFlow()
"""


def test_two_concurrent_runs_of_one_flow_keep_their_own_artifacts(project: Path) -> None:
    (project / "twin.py").write_text(textwrap.dedent(TWO_RUNS_FLOW))
    procs = {a: subprocess.Popen([sys.executable, str(project / "twin.py"), "run", "--alpha", str(a)],
                                 env=_env(project), cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for a in (3, 7)}  # fmt: skip
    for proc in procs.values():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
    runs = Flow("TwinFlow").runs()
    assert sorted((r.parameters["alpha"], r.data.result) for r in runs) == [(3, 300), (7, 700)]
    assert all(r.status == "success" for r in runs)
