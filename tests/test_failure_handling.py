"""Failure handling under a real ``airflow dags test``: timeouts stop the step and are recorded;
required parameters are enforced before any step runs."""

from __future__ import annotations

import os
import shutil
import time

from airflow_ml_provider.client import Flow
from tests.fixtures.airflow_local import ROOT, airflow_env, dags_test


def test_timeout_kills_the_step_process_and_records_the_attempt(dags_folder, tmp_path):
    shutil.copy(ROOT / "tests" / "flows" / "failure_flows.py", dags_folder)
    pid_file = tmp_path / "slow.pid"
    started = time.monotonic()
    result = dags_test("TimeoutFlow", env=airflow_env(ML_TEST_PID_FILE=str(pid_file)))
    elapsed = time.monotonic() - started
    assert result.returncode != 0 or "state=failed" in result.stdout + result.stderr
    assert elapsed < 120, "the 300 s step must be stopped by its 4 s timeout"
    pid = int(pid_file.read_text())
    time.sleep(1)
    assert not os.path.exists(f"/proc/{pid}"), "the timed-out step process is still running"
    run = Flow("TimeoutFlow").latest_run
    slow = run["slow"].task
    assert slow.metadata["status"] == "failed"
    # the step's own TimeoutException (Metaflow's), raised inside the step 4 s in
    assert slow.exception["type"] == "TimeoutException"
    assert "timed out after 0 hours, 0 minutes, 4 seconds" in slow.exception["message"]
    assert run.metadata["status"] == "failed" and not run.successful
    assert "end" not in run


def test_required_parameter_is_enforced_before_steps_run(dags_folder):
    shutil.copy(ROOT / "tests" / "flows" / "failure_flows.py", dags_folder)
    missing = dags_test("RequiredParamFlow")
    assert missing.returncode != 0
    assert "size" in missing.stdout + missing.stderr
    ok = dags_test("RequiredParamFlow", {"size": 21})
    assert ok.returncode == 0, (ok.stdout + ok.stderr)[-3000:]
    assert Flow("RequiredParamFlow").latest_successful_run.data.double == 42
