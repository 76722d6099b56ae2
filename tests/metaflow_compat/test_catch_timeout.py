"""``@timeout`` raises inside the step and ``@catch`` survives a step whose process dies (Metaflow's semantics).

Metaflow's core suite checks both (``TimeoutDecoratorTest``, ``TagCatchTest``): a timed-out step
keeps the artifacts it set before the timeout and ``@catch`` stores the timeout; a step killed by
SIGKILL in every attempt gets a fallback attempt that stores ``FailureHandledByCatch`` and the
flow goes on.
"""

from __future__ import annotations

import json

import pytest

from airflow_ml_provider.dsl.exceptions import StepException
from tests.metaflow_compat.helpers import FlowFiles

GUARDED_FLOW = """
import os
import signal
import time

from airflow_ml_provider import FlowSpec, catch, current, retry, step, timeout


class GuardedFlow(FlowSpec):
    @catch(var="ex", print_exception=False)
    @timeout(seconds=1)
    @step
    def start(self):
        self.check = True
        time.sleep(30)
        self.never = True
        self.next(self.killed)

    @catch(var="killed_ex")
    @retry(times=1, minutes_between_retries=0)
    @step
    def killed(self):
        self.attempt_seen = current.retry_count
        os.kill(os.getpid(), signal.SIGKILL)
        self.next(self.fine)

    @catch(var="fine_ex")
    @step
    def fine(self):
        self.ok = True
        self.next(self.end)

    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    GuardedFlow()
"""

UNCAUGHT_TIMEOUT_FLOW = """
import time

from airflow_ml_provider import FlowSpec, retry, step, timeout


class SlowFlow(FlowSpec):
    @retry(times=1, minutes_between_retries=0)
    @timeout(seconds=1)
    @step
    def start(self):
        time.sleep(30)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SlowFlow()
"""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlowFiles, str]:
    files = FlowFiles(tmp_path_factory.mktemp("guarded"), tmp_path_factory.mktemp("artifacts"))
    files.write("guarded_flow.py", GUARDED_FLOW)
    files.write("slow_flow.py", UNCAUGHT_TIMEOUT_FLOW)
    return files, files.ok("guarded_flow.py", "run")


def test_timeout_is_raised_in_the_step_and_caught_with_the_artifacts_set_before_it(guarded) -> None:
    files, run_id = guarded
    with files.store():
        task = files.run("GuardedFlow", run_id)["start"].task
        assert task.successful
        ex = task["ex"].data
        assert task["check"].data is True and "never" not in task
    assert isinstance(ex, StepException)
    assert ex.type == "metaflow.plugins.timeout_decorator.TimeoutException"  # Metaflow's name
    assert "timed out after 0 hours, 0 minutes, 1 seconds" in ex.exception


def test_a_step_killed_in_every_attempt_gets_a_fallback_attempt_and_the_flow_goes_on(guarded) -> None:
    files, run_id = guarded
    with files.store():
        run = files.run("GuardedFlow", run_id)
        assert run.successful and run["end"].task["done"].data is True
        task = run["killed"].task
        ex = task["killed_ex"].data
        assert task.attempt == 2  # attempts 0 and 1 were killed, 2 is the fallback
        assert "attempt_seen" not in task  # the fallback ran none of the step's code
        assert run["fine"].task["fine_ex"].data is None  # @catch's variable exists and is None on success
        # Metaflow's metadata list: one "attempt" entry per attempt made; the record still reads by key
        attempts = [m for m in task.metadata if m.type == "attempt"]
        assert [m.value for m in attempts] == ["0", "1", "2"] and {m.name for m in attempts} == {"attempt"}
        assert all(m.task.pathspec == task.pathspec and m.created_at > 0 for m in attempts)
        assert task.metadata["status"] == "success" and task.metadata.get("attempt") == 2
        assert "status" in task.metadata and json.loads(json.dumps(task.metadata))["attempt"] == 2
    assert ex.type == "metaflow.plugins.catch_decorator.FailureHandledByCatch"
    assert "kept failing over 2 attempts" in ex.exception


def test_an_uncaught_timeout_fails_the_step_after_its_retries(guarded) -> None:
    files, _ = guarded
    result = files("slow_flow.py", "run")
    assert result.returncode != 0
    assert "TimeoutException" in result.stdout + result.stderr
    assert "failed after 2 attempt(s)" in result.stdout + result.stderr
