"""The plugin follows changes to finished runs: a cleared-and-rerun task, tags added afterwards.

Finished ``run.json`` files are cached by the api-server's plugin (the store reader's cache), but
only for ``METADATA_TTL_S`` seconds; the clock is moved forward here instead of sleeping.
"""

from __future__ import annotations

import pytest
from store_fixtures import build_table_flow

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend, reader
from airflow_ml_provider.plugin import queries
from airflow_ml_provider.plugin.queries import StoreReader


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):
    """``later()`` moves the plugin's clock past the metadata TTL."""
    offset = [0.0]
    real = reader.time.monotonic
    monkeypatch.setattr(reader.time, "monotonic", lambda: real() + offset[0])

    def advance() -> None:
        offset[0] += queries.METADATA_TTL_S + 1

    queries.clear_caches()
    yield advance
    queries.clear_caches()


def test_status_and_tags_of_a_finished_run_refresh(tmp_path, later) -> None:
    backend = LocalBackend(str(tmp_path / "store"))
    run_id = build_table_flow(backend)["run_a"]
    store = StoreReader(backend)
    flow = FlowDatastore("TableFlow", backend)
    flow.end_run(run_id, "failed", "a task failed")
    later()
    assert store.run("TableFlow", run_id)[2]["status"] == "failed"
    assert store.runs("TableFlow", tag="prod") == []

    # A cleared task re-ran and closed the run again; someone tagged it.
    flow.end_run(run_id, "success")
    flow.tag_run(run_id, "prod")
    assert flow.read_run(run_id)["finished_at"]  # a finished run: the kind the plugin caches

    later()
    assert store.run("TableFlow", run_id)[2]["status"] == "success"
    assert [r["run_id"] for r in store.runs("TableFlow", tag="prod")] == [run_id]


def test_a_failed_task_shows_what_its_attempt_stored(tmp_path) -> None:
    """A task whose only attempt failed: its stored artifacts appear (as the client returns them), marked."""
    from airflow_ml_provider.plugin import pages
    from airflow_ml_provider.plugin.urls import Urls

    backend = LocalBackend(str(tmp_path / "store"))
    run_id = build_table_flow(backend)["run_a"]
    flow = FlowDatastore("TableFlow", backend)
    rec = flow.save_artifact("partial", [1, 2, 3])
    meta = {"flow_name": "TableFlow", "run_id": run_id, "step": "evaluate", "task_id": "0", "attempt": 0,
            "status": "failed", "artifacts": {"partial": rec}, "new_artifacts": ["partial"],
            "exception": {"type": "ValueError", "message": "bad metric", "traceback": ""}}  # fmt: skip
    flow.write_attempt(run_id, "evaluate", "0", 0, meta)

    store = StoreReader(backend)
    summary = store.task("TableFlow", run_id, "evaluate", "0")
    assert summary.as_json()["artifact_names"] == ["partial"] and summary.as_json()["artifacts_attempt"] == 0
    run_meta = store.run("TableFlow", run_id)[2]
    html = pages.task_page(run_meta, "evaluate", summary, [meta], Urls(root="/ml-artifacts"))
    assert "From attempt 0, which did not succeed" in html and "partial" in html
    # A task with a successful attempt shows that one, without the note.
    ok = store.task("TableFlow", run_id, "train", "0")
    html = pages.task_page(run_meta, "train", ok, [], Urls(root="/ml-artifacts"))
    assert "did not succeed" not in html and "accuracy" in html
