"""Namespaces as in Metaflow: by default you see your own runs; another user's run by id is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

import airflow_ml_provider.client.scope as client_scope
from airflow_ml_provider.client import (
    Flow,
    MetaflowNamespaceMismatch,
    Run,
    Step,
    Task,
    default_namespace,
    get_namespace,
    namespace,
    set_artifact_root,
)
from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
from airflow_ml_provider.datastore.records import now_iso

FLOW = "NsFlow"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("METAFLOW_USER", "alice")
    monkeypatch.setattr(client_scope, "_namespace", client_scope._UNSET)  # a fresh process's state
    ds = FlowDatastore(FLOW, LocalBackend(tmp_path))
    for run_id, user in (("a1", "alice"), ("b1", "bob")):
        ds.create_run(run_id, {"flow_name": FLOW, "run_id": run_id, "created_at": now_iso(),
                               "tags": [f"user:{user}", "run_type:manual"]})  # fmt: skip
        meta = {"flow_name": FLOW, "run_id": run_id, "step": "end", "task_id": "0", "attempt": 0,
                "status": "success", "artifacts": {"who": ds.save_artifact("who", user)}}  # fmt: skip
        ds.write_attempt(run_id, "end", "0", 0, meta)
        ds.end_run(run_id, "success")
    set_artifact_root(str(tmp_path))
    yield ds
    set_artifact_root(None)
    namespace(None)


def test_the_default_namespace_is_the_current_user(store: FlowDatastore) -> None:
    assert get_namespace() == "user:alice"
    assert [r.id for r in Flow(FLOW).runs()] == ["a1"]
    assert Flow(FLOW).latest_successful_run.data.who == "alice"


def test_another_users_run_by_id_raises_namespace_mismatch(store: FlowDatastore) -> None:
    for make in (lambda: Run(f"{FLOW}/b1"), lambda: Flow(FLOW)["b1"], lambda: Step(f"{FLOW}/b1/end"),
                 lambda: Task(f"{FLOW}/b1/end/0")):  # fmt: skip
        with pytest.raises(MetaflowNamespaceMismatch, match="Object not in namespace 'user:alice'"):
            make()
    with pytest.raises(KeyError):  # code that caught KeyError for "no such run" still works
        Run(f"{FLOW}/b1")


def test_namespace_none_sees_all_and_default_namespace_goes_back(store: FlowDatastore) -> None:
    namespace(None)
    assert sorted(r.id for r in Flow(FLOW).runs()) == ["a1", "b1"]
    assert Run(f"{FLOW}/b1").data.who == "bob"
    namespace("user:bob")
    assert [r.id for r in Flow(FLOW)] == ["b1"]
    assert default_namespace() == "user:alice" == get_namespace()
    with pytest.raises(MetaflowNamespaceMismatch):
        Run(f"{FLOW}/b1")


def test_namespace_check_false_reads_one_object_whatever_the_namespace(store: FlowDatastore) -> None:
    """The UI's copied line uses Metaflow's ``_namespace_check=False``: this exact object, for anyone."""
    assert Task(f"{FLOW}/b1/end/0", _namespace_check=False)["who"].data == "bob"
    assert Run(f"{FLOW}/b1", _namespace_check=False).id == "b1"
    assert Step(f"{FLOW}/b1/end", _namespace_check=False).id == "end"
    assert get_namespace() == "user:alice"  # nothing changed for the rest of the session
