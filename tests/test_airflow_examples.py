"""Each example flow runs under a real ``airflow dags test`` and its artifacts read back through the client."""

from __future__ import annotations

import json

import pytest

from airflow_ml_provider.client import Flow, Run
from tests.fixtures.airflow_local import dags_test, run_airflow


def _run_ok(dag_id: str, conf: dict | None = None) -> str:
    result = dags_test(dag_id, conf)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return result.stdout + result.stderr


def _latest(flow_name: str) -> Run:
    run = Flow(flow_name).latest_run
    assert run is not None
    return run


@pytest.fixture(scope="module")
def examples(dags_folder):
    return dags_folder


def test_hello_flow_runs_as_a_dag_and_artifacts_are_readable(examples):
    log = _run_ok("HelloFlow")
    assert "execution_mode=local" in log and "NOT enforced" in log
    run = _latest("HelloFlow")
    assert run.successful and run.finished
    assert run.data.message == "hello, world"
    assert run["count"].task.data.letters == 10
    assert run.metadata["dag_id"] == "HelloFlow"
    assert run.metadata["run_type"] == "manual"
    assert run.metadata["airflow_run_id"].startswith("manual__")
    assert "run_type:manual" in run.tags
    assert [s.id for s in run.steps()] == ["start", "count", "end"]
    execution = run["count"].task.metadata["execution"]
    assert execution["mode"] == "local" and execution["resources_enforced"] is False
    assert execution["resources"]["cpu"] == 1 and execution["resources"]["memory"] == 4096
    # the same run is addressable by the raw Airflow run id
    assert Run(f"HelloFlow/{run.metadata['airflow_run_id']}").id == run.id


def test_branch_flow_joins_both_branches(examples):
    _run_ok("BranchFlow")
    run = _latest("BranchFlow")
    assert run.successful
    join = run["join"].task
    assert join.data.scores == {"linear": 5.5, "quadratic": 3.85}
    assert join.data.best == "linear"
    assert join.data.linear_score == 5.5
    assert join.data.data == list(range(1, 11))
    assert "model" not in join  # not merged: the branches disagree
    quad = run["quadratic"].task.metadata["execution"]["resources"]
    assert quad["cpu"] == 4 and quad["memory"] == 8192 and quad["gpu"] == 1


def test_foreach_flow_maps_a_multi_step_body_in_order(examples):
    log = _run_ok("ForeachFlow", {"rows": 400})
    assert log.count("end task task_id=summarise map_index=") == 4
    run = _latest("ForeachFlow")
    assert run.successful and run.parameters == {"rows": 400}
    regions = ["north", "south", "east", "west"]
    assert run["join"].task.data.order == regions
    summary = run.data.summary
    assert list(summary.region) == regions and int(summary["count"].sum()) == 400
    tasks = run["summarise"].tasks()
    assert [t.id for t in tasks] == ["3-0", "3-1", "3-2", "3-3"]
    assert [t.data.region for t in tasks] == regions
    assert [t.index for t in tasks] == [0, 1, 2, 3]
    sales = run["start"].task.data.sales
    assert len(sales) == 400 and str(sales.day.dtype).startswith("datetime64")
    assert run["start"].task["sales"].record["serializer"] == "pandas-dataframe"
    stack = run["select"].tasks()[2].metadata["foreach_stack"]
    assert stack[0]["var"] == "regions" and stack[0]["index"] == 2 and stack[0]["value"] == "'east'"


def test_parameters_flow_takes_trigger_conf(examples):
    conf = {"alpha": 0.2, "epochs": 2, "model_name": "m1", "verbose": True, "config": {"layers": [4]}}
    _run_ok("ParametersFlow", conf)
    run = _latest("ParametersFlow")
    assert run.successful
    data = run.data
    assert data.learning_plan == [0.2, 0.1]
    assert data.layers == [4]
    assert data.model_name == "m1" and data.verbose is True
    assert data.notes.startswith("Notes for the parameters example.")
    assert run.parameters["alpha"] == 0.2


def test_metaflow_file_with_only_the_import_changed_is_a_dag(examples):
    """Found with the documented discovery callable; safe mode alone skips it (no 'dag' in the file)."""
    from tests.fixtures.airflow_local import airflow_env

    env = airflow_env(AIRFLOW__CORE__MIGHT_CONTAIN_DAG_CALLABLE="airflow_ml_provider.discovery.might_contain_flow")
    result = dags_test("MetaflowCompatFlow", env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    run = _latest("MetaflowCompatFlow")
    assert run.successful and run.data.squares == [0, 1, 4]


def test_dag_report_parses_examples_without_errors(examples):
    result = run_airflow("dags", "list", "-o", "json", "-l")
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(ln for ln in reversed(result.stdout.splitlines()) if ln.startswith("[{"))
    listed = {d["dag_id"] for d in json.loads(line)}
    assert {"HelloFlow", "BranchFlow", "ForeachFlow", "ParametersFlow"} <= listed
