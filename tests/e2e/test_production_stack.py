"""What only a production-like stack shows: PostgreSQL, parallel LocalExecutor workers, S3, XCom backend.

Two runs of one flow at once with different parameters, a 100-wide foreach whose tasks overlap
in time (and whose one failed mapped task is cleared and rerun), a TaskFlow DAG whose XComs go
through the artifact store on S3 under the running scheduler, and the plugin's page of the wide
run. The stack is tests/e2e/conftest.py's (shared with test_running_airflow.py).
"""

from __future__ import annotations

import json
import urllib.parse

import psycopg2
import pytest

from airflow_ml_provider.client import Run
from tests.fixtures.airflow_stack import AirflowStack

WIDE = "WideE2EFlow"
PARAMS = "ParamsE2EFlow"


def _trigger(stack: AirflowStack, dag_id: str, conf: dict | None = None) -> str:
    return stack.trigger(dag_id, conf)


def _q(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")


def _task_instances(stack: AirflowStack, dag_id: str, run_id: str) -> list[dict]:
    return stack.task_instances(dag_id, run_id)


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    open_now = peak = 0
    for _, delta in events:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def test_airflow_keeps_its_state_in_postgresql(stack):
    assert stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert stack.env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert int(stack.env["AIRFLOW__CORE__PARALLELISM"]) >= 4
    conn = psycopg2.connect(stack.database_url.replace("postgresql+psycopg2", "postgresql"))
    try:
        cur = conn.cursor()
        cur.execute("SELECT dag_id FROM dag ORDER BY dag_id")
        dags = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert {WIDE, PARAMS, "E2EFlow", "XComE2EDag"} <= dags


def test_two_concurrent_runs_each_read_only_their_own_artifacts(stack):
    first = _trigger(stack, PARAMS, {"seed": 3})
    second = _trigger(stack, PARAMS, {"seed": 5})
    assert stack.wait_run(PARAMS, first) == "success", stack.log_tail("scheduler")
    assert stack.wait_run(PARAMS, second) == "success", stack.log_tail("scheduler")
    runs = {seed: Run(f"{PARAMS}/{rid}") for seed, rid in ((3, first), (5, second))}
    for seed, run in runs.items():
        assert run.successful and run.parameters == {"seed": seed}
        assert run["end"].task.data.result == {"seed": seed, "value": seed * 10 + 1, "run_id": run.id}
    a, b = runs[3]["middle"].task, runs[5]["middle"].task
    spans = [(t.data.middle_start, t.data.middle_end) for t in (a, b)]
    assert _max_overlap(spans) == 2, spans  # max_active_runs=2: both middles ran at the same time
    assert a["value"].sha != b["value"].sha


@pytest.fixture(scope="module")
def wide_run(stack) -> str:
    """A 100-wide run whose item 7 fails once; the failed mapped task is then cleared and rerun."""
    stack.wide_marker.write_text("x")
    run_id = _trigger(stack, WIDE)
    assert stack.wait_run(WIDE, run_id, timeout=900) == "failed", stack.log_tail("scheduler")
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in _task_instances(stack, WIDE, run_id)}
    stack.wide_run_failed_states = states
    stack.wide_marker.unlink()
    status, body = stack.request(
        "POST", f"/api/v2/dags/{WIDE}/clearTaskInstances",
        {"dry_run": False, "dag_run_id": run_id, "task_ids": [["body", 7]], "only_failed": True,
         "reset_dag_runs": True, "include_downstream": True},
    )  # fmt: skip
    assert status == 200, body
    assert [ti["map_index"] for ti in body["task_instances"] if ti["task_id"] == "body"] == [7]
    assert stack.wait_run(WIDE, run_id, ("success",), timeout=600) == "success", stack.log_tail("scheduler")
    return run_id


def test_a_failed_mapped_task_fails_the_run_and_clearing_it_reruns_only_it(stack, wide_run):
    states = stack.wide_run_failed_states
    assert states[("body", 7)] == "failed"
    # Airflow fails the run as soon as join is upstream_failed; a few siblings may still be running
    body_states = [s for (task, _), s in states.items() if task == "body"]
    assert body_states.count("failed") == 1 and len(body_states) == 100
    assert body_states.count("success") >= 90
    assert states[("join", -1)] == "upstream_failed"
    run = Run(f"{WIDE}/{wide_run}")
    assert run.successful
    body = run["body"]
    assert len(body.task_ids()) == 100
    rerun = Run(f"{WIDE}/{wide_run}")["body"]
    seven = next(t for t in rerun.tasks() if t.index == 7)
    assert [a.metadata["status"] for a in seven.attempts()] == ["failed", "success"]
    assert "item 7 fails" in seven.attempts()[0].exception["message"]
    others = [t for t in rerun.tasks() if t.index != 7]
    assert all(len(t.attempts()) == 1 for t in others)  # clearing reran item 7 only


def test_a_hundred_wide_foreach_runs_in_parallel_and_joins(stack, wide_run):
    run = Run(f"{WIDE}/{wide_run}")
    join = run["join"].task.data
    assert join.squares == [i * i for i in range(100)]  # in item order
    assert run["end"].task.data.total == sum(i * i for i in range(100))
    assert _max_overlap(join.spans) >= 2, "no two foreach tasks ever ran at the same time"
    tis = [ti for ti in _task_instances(stack, WIDE, wide_run) if ti["task_id"] == "body"]
    assert len(tis) == 100 and all(ti["state"] == "success" for ti in tis)
    airflow_spans = [(ti["start_date"], ti["end_date"]) for ti in tis if ti["map_index"] != 7]
    assert _max_overlap(airflow_spans) >= 2  # Airflow's own record agrees (ISO strings sort in time order)


def test_plugin_page_of_the_wide_run(stack, wide_run):
    status, html = stack.request("GET", f"/ml-artifacts/dags/{WIDE}/runs/{_q(wide_run)}")
    assert status == 200, html
    text = html if isinstance(html, str) else json.dumps(html)
    assert WIDE in text and "body" in text and "join" in text
    status, step_page = stack.request("GET", f"/ml-artifacts/dags/{WIDE}/runs/{_q(wide_run)}/steps/body")
    assert status == 200
    assert "100" in step_page


def test_xcom_backend_under_the_running_scheduler_writes_to_s3(stack):
    run_id = _trigger(stack, "XComE2EDag")
    assert stack.wait_run("XComE2EDag", run_id) == "success", stack.log_tail("scheduler")
    base = f"/api/v2/dags/XComE2EDag/dagRuns/{_q(run_id)}/taskInstances"
    status, frame_ref = stack.request("GET", f"{base}/produce_frame/xcomEntries/return_value")
    assert status == 200, frame_ref
    assert len(json.dumps(frame_ref["value"])) < 4000  # the database holds a reference, not 20,000 rows
    assert "__ml_xcom__" in json.dumps(frame_ref["value"])
    status, total = stack.request("GET", f"{base}/consume/xcomEntries/return_value")
    assert status == 200 and total["value"] == sum(range(20_000))
    listing = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="ml/_xcom/data/")
    assert listing.get("KeyCount", 0) >= 2  # the frame and the big dict, as blobs in S3
