"""Client and plugin read task order and the DAG index through the store's one implementation,
so they cannot disagree (they did: ``10`` sorted before ``2`` in one, non-numbers first in the other)."""

from __future__ import annotations

import json

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
from airflow_ml_provider.datastore.flow_store import dag_index_flow, write_dag_index
from airflow_ml_provider.datastore.ids import task_order
from airflow_ml_provider.datastore.reader import Reader
from airflow_ml_provider.plugin.queries import StoreReader

IDS = ["5-10", "5-2", "5-0", "5-3-1", "5-3", "5-1", "5-3-0", "5-11"]
ORDER = ["5-0", "5-1", "5-2", "5-3", "5-3-0", "5-3-1", "5-10", "5-11"]
LEGACY_IDS = ["10", "2", "0", "3-1", "3", "1", "3-0", "11"]  # runs before ids held step ordinals
LEGACY_ORDER = ["0", "1", "2", "3", "3-0", "3-1", "10", "11"]


def test_task_order_is_natural_foreach_order() -> None:
    assert sorted(IDS, key=task_order) == ORDER
    assert sorted(LEGACY_IDS, key=task_order) == LEGACY_ORDER


def test_the_store_lists_tasks_in_that_order_for_every_reader(tmp_path) -> None:
    backend = LocalBackend(tmp_path)
    store = FlowDatastore("OrderFlow", backend)
    for task_id in IDS:
        backend.write(f"OrderFlow/runs/r1/steps/body/{task_id}/0.json", b"{}")
    assert store.task_ids("r1", "body") == ORDER
    assert Reader(backend).task_ids("OrderFlow", "r1", "body") == ORDER  # the client's reader
    assert StoreReader(backend).task_ids("OrderFlow", "r1", "body") == ORDER


def test_dag_index_names_the_flow_and_a_bad_entry_is_no_entry(tmp_path) -> None:
    backend = LocalBackend(tmp_path)
    assert dag_index_flow(backend, "renamed_dag") is None
    write_dag_index(backend, "renamed_dag", "SomeFlow")
    assert dag_index_flow(backend, "renamed_dag") == "SomeFlow"
    backend.write("_dags/broken.json", b"{not json")
    backend.write("_dags/hostile.json", b'{"flow_name": "../etc"}')
    assert dag_index_flow(backend, "broken") is None
    assert dag_index_flow(backend, "hostile") is None


def test_client_and_plugin_show_the_same_attempt_steps_and_runs(tmp_path) -> None:
    """Both read through ``datastore/reader.py``: a retried task, steps in the flow's order, runs newest first."""
    from airflow_ml_provider.client import Flow, Run, Task, default_namespace, namespace, set_artifact_root
    from airflow_ml_provider.plugin.app import run_steps

    backend = LocalBackend(tmp_path)
    store = FlowDatastore("OrderFlow", backend)
    for run_id, created in (("r1", "2026-12-01T10:00:00+00:00"), ("r2", "2026-12-02T10:00:00+00:00")):
        store.create_run(run_id, {"created_at": created, "tags": ["user:x"], "steps": ["start", "body", "end"]})
        for step, status in (("end", "success"), ("start", "success"), ("body", "failed"), ("body", "success")):
            attempt = len(store.attempts(run_id, step, "0"))
            store.write_attempt(run_id, step, "0", attempt, {"attempt": attempt, "status": status})
    store.write_attempt("r1", "body", "0", 2, {"attempt": 2, "status": "failed"})
    set_artifact_root(str(tmp_path))
    namespace(None)
    try:
        plugin = StoreReader(backend)
        assert Task("OrderFlow/r1/body/0").attempt == 1 == plugin.task("OrderFlow", "r1", "body", "0").shown["attempt"]
        assert [s.id for s in Run("OrderFlow/r1").steps()] == ["start", "body", "end"]
        assert [s for s, _, _ in run_steps(plugin, "OrderFlow", "r1")] == ["start", "body", "end"]
        assert [r.id for r in Flow("OrderFlow").runs()] == ["r2", "r1"]
        assert [r["run_id"] for r in plugin.runs("OrderFlow")] == ["r2", "r1"]
    finally:
        set_artifact_root(None)
        default_namespace()


def test_the_plugin_finds_the_task_of_an_airflow_map_index_in_both_id_schemes(tmp_path) -> None:
    backend = LocalBackend(tmp_path)
    tasks = [  # (run, step, task id, Airflow map index); "old": ids were bare foreach paths
        ("new", "solo", "3", -1), ("new", "body", "7-0", 0), ("new", "body", "7-1", 1),
        ("new", "inner", "8-0-0", 0), ("new", "inner", "8-0-1", 1), ("new", "inner", "8-1-0", 2),
        ("old", "solo", "0", -1), ("old", "inner", "0-0", 0), ("old", "inner", "0-1", 1), ("old", "inner", "1-0", 2),
    ]  # fmt: skip
    for run, step, task_id, index in tasks:
        meta = {"task_id": task_id, "status": "success", "airflow": {"map_index": index}}
        backend.write(f"OrderFlow/runs/{run}/steps/{step}/{task_id}/0.json", json.dumps(meta).encode())
    reader = StoreReader(backend)
    assert reader.task_for_map_index("OrderFlow", "new", "solo", -1) == "3"
    assert [reader.task_for_map_index("OrderFlow", "new", "body", i) for i in (0, 1)] == ["7-0", "7-1"]
    assert [reader.task_for_map_index("OrderFlow", "new", "inner", i) for i in (0, 1, 2)] == ["8-0-0", "8-0-1", "8-1-0"]
    assert reader.task_for_map_index("OrderFlow", "old", "solo", -1) == "0"
    assert [reader.task_for_map_index("OrderFlow", "old", "inner", i) for i in (0, 1, 2)] == ["0-0", "0-1", "1-0"]
