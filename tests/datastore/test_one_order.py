"""Client and plugin read task order and the DAG index through the store's one implementation,
so they cannot disagree (they did: ``10`` sorted before ``2`` in one, non-numbers first in the other)."""

from __future__ import annotations

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
from airflow_ml_provider.datastore.flow_store import dag_index_flow, write_dag_index
from airflow_ml_provider.datastore.ids import task_order
from airflow_ml_provider.datastore.reader import Reader
from airflow_ml_provider.plugin.queries import StoreReader

IDS = ["10", "2", "0", "3-1", "3", "1", "3-0", "11"]
ORDER = ["0", "1", "2", "3", "3-0", "3-1", "10", "11"]


def test_task_order_is_natural_foreach_order() -> None:
    assert sorted(IDS, key=task_order) == ORDER


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
