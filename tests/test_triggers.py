"""``@trigger`` / ``@trigger_on_finish`` compile to Airflow Asset schedules; the end task emits the
flow's finish asset; locally the decorators are inert with a note (Metaflow's behaviour).

The running-Airflow half (a finished flow starting another, an event posted through the REST API
starting a flow with its payload) is in tests/e2e/test_triggers_e2e.py.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from airflow_ml_provider import trigger, trigger_on_finish
from airflow_ml_provider.compiler import compile_flow
from airflow_ml_provider.dsl.triggers import TriggerError, finish_asset_uri
from tests.fixtures.airflow_local import dags_test, run_airflow, run_flow_file
from tests.flows import trigger_decorated_flows as flows

FLOWS = Path(__file__).parent / "flows"
ROOT_ENV = "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT"


def _uris(condition) -> list[str]:  # type: ignore[no-untyped-def]
    """URIs of an Asset or of an ``AssetAny`` of Assets."""
    return sorted(a.uri for a in getattr(condition, "objects", (condition,)))


def test_trigger_on_finish_schedules_on_the_upstream_flows_finish_asset() -> None:
    import os

    dag = compile_flow(flows.AfterTwoFlow)
    root = os.environ[ROOT_ENV]
    assert _uris(dag.timetable.asset_condition) == [
        finish_asset_uri(root, "FirstFlow"), finish_asset_uri(root, "OtherFlow")
    ]  # fmt: skip
    assert finish_asset_uri(root, "FirstFlow").startswith("x-ml-provider://FirstFlow/finished?root=")
    # every flow's end task emits its own finish asset
    assert [a.uri for a in dag.get_task("end").outlets] == [finish_asset_uri(root, "AfterTwoFlow")]


def test_trigger_event_with_schedule_is_asset_or_time() -> None:
    from airflow.sdk import AssetOrTimeSchedule

    dag = compile_flow(flows.EventOrHourlyFlow)
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert _uris(dag.timetable.asset_condition) == ["data_updated"]
    assert dag.timetable.timetable.expression == "0 * * * *"


def test_trigger_on_finish_in_a_project_waits_for_the_same_branch() -> None:
    import os

    dag = compile_flow(flows.BranchFlow)
    root = os.environ[ROOT_ENV]
    assert dag.dag_id == "demo.test.feature_x.BranchFlow"
    assert _uris(dag.timetable.asset_condition) == [finish_asset_uri(root, "demo.test.feature_x.FirstFlow")]
    assert [a.uri for a in dag.get_task("end").outlets] == [finish_asset_uri(root, "demo.test.feature_x.BranchFlow")]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: trigger(event="a", events=["b"]), "either event= or events="),
        (lambda: trigger_on_finish(), "either flow= or flows="),
        (lambda: trigger(events=[""]), "non-empty name"),
        (lambda: trigger(event={"name": "a", "parameters": {"x": "y"}}), "only {'name': ...} is supported"),
    ],
)
def test_malformed_trigger_decorators_say_what_is_wrong(make, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TriggerError, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        make()


def test_local_run_records_the_decorators_but_starts_now_with_a_note() -> None:
    result = run_flow_file(FLOWS / "trigger_second_flow.py", "run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "note: @trigger_on_finish(flows=['FirstFlow']) take effect only on Airflow" in result.stdout
    assert "upstream None None" in result.stdout  # current.trigger is None
    from airflow_ml_provider.client import Flow, namespace

    namespace(None)
    assert Flow("SecondFlow").latest_run.trigger is None
    shown = run_flow_file(FLOWS / "trigger_second_flow.py", "show")
    assert "triggered on Airflow by @trigger_on_finish(flows=['FirstFlow'])" in shown.stdout


def test_dags_test_end_task_emits_the_finish_asset_with_the_run(dags_folder: Path, airflow_home: Path) -> None:
    for name in ("trigger_first_flow.py", "trigger_second_flow.py"):
        shutil.copy(FLOWS / name, dags_folder / name)
    assert run_airflow("dags", "reserialize").returncode == 0
    assert run_airflow("dags", "unpause", "SecondFlow").returncode == 0  # Airflow queues only unpaused DAGs
    result = dags_test("FirstFlow")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    db = sqlite3.connect(airflow_home / "airflow.db")
    try:
        run_id = db.execute("SELECT run_id FROM dag_run WHERE dag_id = 'FirstFlow' ORDER BY id DESC").fetchone()[0]
        extra, uri = db.execute(
            "SELECT e.extra, a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE e.source_dag_id = 'FirstFlow' AND e.source_run_id = ?", (run_id,)
        ).fetchone()  # fmt: skip
        queued = {r[0] for r in db.execute("SELECT target_dag_id FROM asset_dag_run_queue")}
    finally:
        db.close()
    extra = json.loads(extra) if isinstance(extra, str) else extra
    assert uri.startswith("x-ml-provider://FirstFlow/finished")
    assert extra["pathspec"].startswith("FirstFlow/") and extra["airflow_run_id"] == run_id
    assert "SecondFlow" in queued  # Airflow queued the downstream flow's run on that event
    from airflow_ml_provider.client import Run

    assert Run(extra["pathspec"], _namespace_check=False).data.model == "m-1"
