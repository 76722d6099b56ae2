"""Flows behave as Airflow users expect on a RUNNING Airflow (api-server, scheduler, dag-processor).

The stack (tests/e2e/conftest.py) runs on PostgreSQL with LocalExecutor and an S3 artifact root.
One flow, several runs: discovery with default settings, trigger with conf through
the REST API, refused bad conf, a retry that absorbs a failure, a failed run fixed by clearing the
task, a resume that reuses the successful steps, and a three-date backfill; every result is read
back through the client.
"""

from __future__ import annotations

import time

import pytest

from airflow_ml_provider.client import Flow, Run, namespace
from tests.fixtures.airflow_stack import AirflowStack

DAG = "E2EFlow"


@pytest.fixture(autouse=True)
def every_users_runs():
    """Runs here are triggered through the REST API by admin: read them all, not only user:<you>."""
    namespace(None)


def _trigger(stack: AirflowStack, conf: dict) -> str:
    status, body = stack.request("POST", f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})
    assert status == 200, body
    return body["dag_run_id"]


def _run(stack: AirflowStack, airflow_run_id: str) -> Run:
    return Run(f"{DAG}/{airflow_run_id}")


def test_dag_is_discovered_with_default_settings(stack):
    status, body = stack.request("GET", f"/api/v2/dags/{DAG}")
    assert status == 200 and "e2e" in {t["name"] for t in body["tags"]}
    status, tasks = stack.request("GET", f"/api/v2/dags/{DAG}/tasks")
    assert {t["task_id"] for t in tasks["tasks"]} == {"start", "flaky", "fragile", "end"}
    status, details = stack.request("GET", f"/api/v2/dags/{DAG}/details")
    assert details["params"]["alpha"]["value"] == 0.5


def test_bad_conf_is_refused_before_any_step_runs(stack):
    bad = {"logical_date": None, "conf": {"alpha": "abc"}}
    status, body = stack.request("POST", f"/api/v2/dags/{DAG}/dagRuns", bad)
    assert status == 400, body
    assert "alpha" in str(body)


def test_trigger_with_conf_runs_and_retry_absorbs_a_failure(stack):
    run_id = _trigger(stack, {"alpha": 0.25, "tags": ["exp1"]})
    assert stack.wait_run(DAG, run_id) == "success", stack.log_tail("scheduler")
    run = _run(stack, run_id)
    assert run.successful and run.data.done is True
    assert run["fragile"].task.data.y == 0.5
    assert run.parameters == {"alpha": 0.25}
    assert run["start"].task.data.logical is None  # a manual run has no logical date in Airflow 3
    assert {"run_type:manual", "user:admin", "exp1", "e2e"} <= run.tags
    flaky = run["flaky"].task
    assert flaky.data.tries == 1
    attempts = flaky.attempts()
    assert [a.metadata["status"] for a in attempts] == ["failed", "success"]
    assert "first try of flaky" in attempts[0].exception["message"]


def test_failed_run_is_fixed_by_clearing_the_task(stack):
    stack.marker.write_text("x")
    run_id = _trigger(stack, {})
    assert stack.wait_run(DAG, run_id) == "failed"
    run = _run(stack, run_id)
    assert not run.successful and run["fragile"].task.metadata["status"] == "failed"
    stack.marker.unlink()
    status, body = stack.request(
        "POST", f"/api/v2/dags/{DAG}/clearTaskInstances",
        {"dry_run": False, "dag_run_id": run_id, "task_ids": ["fragile"], "only_failed": True,
         "reset_dag_runs": True, "include_downstream": True},
    )  # fmt: skip
    assert status == 200, body
    assert stack.wait_run(DAG, run_id, ("success",)) == "success"
    run = _run(stack, run_id)
    assert run.successful
    fragile = run["fragile"].task
    assert [a.metadata["status"] for a in fragile.attempts()] == ["failed", "success"]
    # the rerun used the same run's upstream artifacts
    assert fragile.data.y == run["start"].task.data.x * 2


def test_resume_from_reuses_successful_steps(stack):
    stack.marker.write_text("x")
    failed_id = _trigger(stack, {"alpha": 2.0})
    assert stack.wait_run(DAG, failed_id) == "failed"
    stack.marker.unlink()
    resumed_id = _trigger(stack, {"resume_from": failed_id})
    assert stack.wait_run(DAG, resumed_id) == "success"
    origin, resumed = _run(stack, failed_id), _run(stack, resumed_id)
    assert resumed.metadata["origin_run_id"] == origin.id
    assert resumed.parameters == {"alpha": 2.0}
    start = resumed["start"].task
    assert start.metadata["cloned_from"].startswith(f"{origin.id}/start/1/")
    assert start["x"].sha == origin["start"].task["x"].sha  # a pointer, no data copied
    assert start.metadata["duration_s"] < 1.5 <= origin["start"].task.metadata["duration_s"]
    assert "cloned_from" not in resumed["fragile"].task.metadata
    assert resumed["fragile"].task.data.y == 4.0


def test_backfill_makes_one_run_per_date(stack):
    result = stack.airflow("backfill", "create", "--dag-id", DAG, "--from-date", "2026-01-01",
                           "--to-date", "2026-01-03")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    def backfill_runs():
        status, body = stack.request("GET", f"/api/v2/dags/{DAG}/dagRuns?run_type=backfill&limit=50")
        runs = body["dag_runs"] if status == 200 else []
        return runs if len(runs) == 3 and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = stack.wait_for("3 backfill runs", backfill_runs, timeout=600, interval=3)
    assert all(r["state"] == "success" for r in runs), runs
    flow_runs = [r for r in Flow(DAG).runs() if r.metadata["run_type"] == "backfill"]
    assert len(flow_runs) == 3
    dates = sorted(r.metadata["logical_date"][:10] for r in flow_runs)
    assert dates == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert all(r["start"].task.data.logical[:10] in dates for r in flow_runs)
    assert all("run_type:backfill" in r.tags for r in flow_runs)


def test_processes_are_alive_until_the_end(stack):
    time.sleep(0.1)
    assert all(p.poll() is None for p in stack.procs.values())
