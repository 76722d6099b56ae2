"""The plugin follows changes to finished runs: a cleared-and-rerun task, tags added afterwards.

Finished ``run.json`` files are cached by the api-server's plugin, but only for
``queries.METADATA_TTL_S`` seconds; the clock is moved forward here instead of sleeping.
"""

from __future__ import annotations

import pytest
from store_fixtures import build_table_flow

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
from airflow_ml_provider.plugin import queries
from airflow_ml_provider.plugin.queries import StoreReader


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch):
    """``later()`` moves the plugin's clock past the metadata TTL."""
    offset = [0.0]
    real = queries.time.monotonic
    monkeypatch.setattr(queries.time, "monotonic", lambda: real() + offset[0])

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
    flow.update_run(run_id, status="failed")
    later()
    assert store.run("TableFlow", run_id)[2]["status"] == "failed"
    assert store.runs("TableFlow", tag="prod") == []

    # A cleared task re-ran and closed the run again; someone tagged it.
    meta = flow.update_run(run_id, status="success", tags=["prod"])
    assert meta["finished_at"]  # a finished run: the kind the plugin caches

    later()
    assert store.run("TableFlow", run_id)[2]["status"] == "success"
    assert [r["run_id"] for r in store.runs("TableFlow", tag="prod")] == [run_id]
