"""@trigger_on_finish and @trigger on a RUNNING Airflow (api-server, scheduler, dag-processor on
PostgreSQL; tests/e2e/conftest.py): Airflow's own asset scheduling starts the flows.

- FirstFlow finishes -> its end task emits FirstFlow's finish asset -> the scheduler starts
  SecondFlow (Metaflow's @trigger_on_finish example, only the import swapped), whose
  ``current.trigger.run`` is FirstFlow's run;
- an asset event posted through the REST API (``POST /api/v2/assets/events`` with ``extra``)
  starts EventFlow (``@trigger(event="data_updated")`` + ``@schedule(daily=True)``), whose
  ``current.trigger.event.payload`` is that extra.

Plus a switch flow run by the scheduler: the cases not chosen end ``skipped`` in Airflow, and the
UI plugin's run page lists them as skipped and shows the switch's decision.
"""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

import pytest

from airflow_ml_provider.client import Run, namespace
from tests.fixtures.airflow_stack import AirflowStack

FLOWS = Path(__file__).parents[1] / "flows"
FILES = {
    "FirstFlow": "trigger_first_flow.py",
    "SecondFlow": "trigger_second_flow.py",
    "EventFlow": "trigger_event_flow.py",
    "SwitchBasicFlow": "switch_basic_flow.py",
}


@pytest.fixture(scope="module")
def trigger_dags(stack: AirflowStack) -> AirflowStack:
    for name in FILES.values():
        shutil.copy(FLOWS / name, stack.dags)
    for dag_id in FILES:
        stack.wait_for(f"DAG {dag_id} parsed", lambda d=dag_id: stack.request("GET", f"/api/v2/dags/{d}")[0] == 200,
                       timeout=240)  # fmt: skip
        status, body = stack.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, body
    namespace(None)
    return stack


def _asset_runs(stack: AirflowStack, dag_id: str) -> list[dict]:
    status, body = stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-start_date&limit=20")
    assert status == 200, body
    return [r for r in body["dag_runs"] if r["run_type"] == "asset_triggered"]


def _wait_asset_run(stack: AirflowStack, dag_id: str, known: set[str]) -> str:
    run = stack.wait_for(
        f"an asset-triggered run of {dag_id}",
        lambda: next((r for r in _asset_runs(stack, dag_id) if r["dag_run_id"] not in known), None),
        timeout=300,
    )
    assert stack.wait_run(dag_id, run["dag_run_id"]) == "success", stack.log_tail("scheduler")
    return run["dag_run_id"]


def test_finishing_a_flow_starts_the_flow_that_triggers_on_its_finish(trigger_dags: AirflowStack) -> None:
    stack = trigger_dags
    before = {r["dag_run_id"] for r in _asset_runs(stack, "SecondFlow")}
    status, body = stack.request("POST", "/api/v2/dags/FirstFlow/dagRuns", {"logical_date": None})
    assert status == 200, body
    first_id = body["dag_run_id"]
    assert stack.wait_run("FirstFlow", first_id) == "success", stack.log_tail("scheduler")
    second_id = _wait_asset_run(stack, "SecondFlow", before)

    first = Run(f"FirstFlow/{first_id}")
    second = Run(f"SecondFlow/{second_id}")
    assert second.data.upstream == first.pathspec  # current.trigger.run inside the step
    assert second.data.upstream_model == "m-1"  # the triggering run's artifacts, through the client
    assert second.trigger.run.pathspec == first.pathspec  # Run.trigger in the client
    assert second.trigger.event.type == "run" and second.trigger.event.name == "FirstFlow"
    assert second.trigger["FirstFlow"].pathspec == first.pathspec


def test_an_asset_event_posted_through_the_rest_api_starts_the_event_flow(trigger_dags: AirflowStack) -> None:
    stack = trigger_dags
    status, body = stack.request("GET", "/api/v2/assets?name_pattern=data_updated")
    assert status == 200, body
    asset_id = next(a["id"] for a in body["assets"] if a["name"] == "data_updated")
    before = {r["dag_run_id"] for r in _asset_runs(stack, "EventFlow")}
    payload = {"table": "sales", "rows": 1200}
    status, body = stack.request("POST", "/api/v2/assets/events", {"asset_id": asset_id, "extra": payload})
    assert status == 200, body
    run_id = _wait_asset_run(stack, "EventFlow", before)

    run = Run(f"EventFlow/{run_id}")
    assert run.data.event_name == "data_updated"
    assert {k: run.data.payload[k] for k in payload} == payload
    assert run.trigger.event.payload["table"] == "sales" and run.trigger.run is None


def test_switch_on_a_running_airflow_and_the_plugin_shows_the_skipped_cases(trigger_dags: AirflowStack) -> None:
    stack = trigger_dags
    status, body = stack.request(
        "POST", "/api/v2/dags/SwitchBasicFlow/dagRuns", {"logical_date": None, "conf": {"case": "case1"}}
    )
    assert status == 200, body
    run_id = body["dag_run_id"]
    assert stack.wait_run("SwitchBasicFlow", run_id) == "success", stack.log_tail("scheduler")
    quoted = urllib.parse.quote(run_id, safe="")
    status, body = stack.request("GET", f"/api/v2/dags/SwitchBasicFlow/dagRuns/{quoted}/taskInstances")
    assert status == 200, body
    states = {ti["task_id"]: ti["state"] for ti in body["task_instances"]}
    assert states == {"start": "success", "switch_step": "success", "a": "success", "b": "skipped",
                      "b2": "skipped", "c": "skipped", "end": "success"}  # fmt: skip
    assert Run(f"SwitchBasicFlow/{run_id}").data.path == "a"

    status, api = stack.request("GET", f"/ml-artifacts/api/dags/SwitchBasicFlow/runs/{quoted}")
    assert status == 200, api
    assert sorted(api["skipped_steps"]) == ["b", "b2", "c"]
    status, html = stack.request("GET", f"/ml-artifacts/dags/SwitchBasicFlow/runs/{quoted}")
    assert status == 200 and html.count("a switch chose another case") == 3
    assert "self.condition = &#x27;case1&#x27; → a" in html or "self.condition = 'case1' → a" in html
