"""The store's one reader (``datastore/reader.py``), which the client, the plugin and the CLI share:
which attempt a task shows, run listing with tags, the one order, corrupt records, the TTL cache.
Checked in process on a local folder and on S3 over HTTP (moto_server) alike."""

from __future__ import annotations

import pytest

from airflow_ml_provider.datastore import CorruptRecordError, FlowDatastore, StorageBackend, reader
from airflow_ml_provider.datastore.flow_store import write_dag_index
from airflow_ml_provider.datastore.reader import CORRUPT, Reader, ReaderCache
from tests.fixtures.moto import local_or_s3_backend

FLOW = "ReaderFlow"


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> StorageBackend:
    return local_or_s3_backend(request, tmp_path, "reader", "root")


def _run(ds: FlowDatastore, run_id: str, created: str, tags: list[str], **extra) -> None:
    record = {"flow_name": ds.flow_name, "run_id": run_id, "created_at": created, "tags": tags, **extra}
    ds.create_run(run_id, record)  # type: ignore[arg-type]


def _attempt(ds: FlowDatastore, run_id: str, step: str, task_id: str, n: int, status: str, **extra) -> None:
    meta = {"flow_name": ds.flow_name, "run_id": run_id, "step": step, "task_id": task_id, "attempt": n,
            "status": status, "started_at": "2026-12-07T10:00:00+00:00", **extra}  # fmt: skip
    ds.write_attempt(run_id, step, task_id, n, meta)


def test_a_retried_task_shows_its_newest_successful_attempt(backend: StorageBackend) -> None:
    ds = FlowDatastore(FLOW, backend)
    _run(ds, "r1", "2026-12-07T10:00:00+00:00", ["user:a"])
    _attempt(ds, "r1", "train", "0", 0, "failed")
    _attempt(ds, "r1", "train", "0", 1, "success", artifacts={"x": {"key": "k1"}})
    _attempt(ds, "r1", "train", "0", 2, "failed")
    found = Reader(backend).task(FLOW, "r1", "train", "0")
    assert found.numbers == [0, 1, 2]
    assert found.latest["attempt"] == 2 and found.successful["attempt"] == 1
    assert found.current()["attempt"] == 1
    # no success at all: the newest attempt, as Metaflow's client shows a failed task
    _attempt(ds, "r1", "eval", "0", 0, "failed")
    _attempt(ds, "r1", "eval", "0", 1, "failed")
    assert Reader(backend).task(FLOW, "r1", "eval", "0").current()["attempt"] == 1
    assert ds.latest_attempt("r1", "train", "0")["attempt"] == 1  # the store's helper is the same rule
    assert ds.latest_attempt("r1", "train", "0", successful=False)["attempt"] == 2
    assert Reader(backend).task(FLOW, "r1", "train", "9").numbers == []


def test_runs_are_listed_newest_first_filtered_by_every_tag_and_dag(backend: StorageBackend) -> None:
    ds = FlowDatastore(FLOW, backend)
    _run(ds, "old", "2026-12-01T10:00:00+00:00", ["user:a", "prod"], dag_id=FLOW)
    _run(ds, "new", "2026-12-03T10:00:00+00:00", ["user:a"], dag_id=FLOW)
    _run(ds, "mid", "2026-12-02T10:00:00+00:00", ["user:b", "prod"], dag_id="other_dag")
    ds.tag_run("new", "prod")  # a tag added later (a run event) counts
    read = Reader(backend)
    assert [r["run_id"] for r in read.runs(FLOW)] == ["new", "mid", "old"]
    assert [r["run_id"] for r in read.runs(FLOW, ["prod"])] == ["new", "mid", "old"]
    assert [r["run_id"] for r in read.runs(FLOW, ["prod", "user:a"])] == ["new", "old"]
    assert [r["run_id"] for r in read.runs(FLOW, dag_id="other_dag")] == ["mid"]
    assert read.runs(FLOW, ["nobody"]) == []
    assert read.run(FLOW, "new")["tags"] == ["prod", "user:a"]


def test_steps_in_the_flows_order_and_tasks_in_foreach_order(backend: StorageBackend) -> None:
    ds = FlowDatastore(FLOW, backend)
    _run(ds, "r1", "2026-12-07T10:00:00+00:00", [], steps=["start", "body", "join", "end"])
    for step, task_id in [("end", "0"), ("start", "0"), ("join", "0"), ("body", "10"), ("body", "2"),
                          ("body", "3-1"), ("body", "3"), ("zzz_unlisted", "0"), ("aaa_unlisted", "0")]:  # fmt: skip
        _attempt(ds, "r1", step, task_id, 0, "success")
    read = Reader(backend)
    assert read.steps(FLOW, "r1") == ["start", "body", "join", "end", "aaa_unlisted", "zzz_unlisted"]
    assert read.task_ids(FLOW, "r1", "body") == ["2", "3", "3-1", "10"]


def test_a_corrupt_record_names_its_file_and_never_hides_the_rest(backend: StorageBackend) -> None:
    ds = FlowDatastore(FLOW, backend)
    _run(ds, "good", "2026-12-07T10:00:00+00:00", ["user:a"])
    _run(ds, "bad", "2026-12-07T11:00:00+00:00", ["user:a"])
    backend.write(f"{FLOW}/runs/bad/run.json", b'{"truncated')
    _attempt(ds, "good", "train", "0", 0, "success")
    _attempt(ds, "good", "train", "0", 1, "failed")
    backend.write(f"{FLOW}/runs/good/steps/train/0/1.json", b"{not json")
    read = Reader(backend)
    with pytest.raises(CorruptRecordError, match=r"runs/bad/run\.json: corrupt metadata"):
        read.run(FLOW, "bad")
    assert [r["run_id"] for r in read.runs(FLOW)] == ["good"]
    kept = read.runs(FLOW, keep_corrupt=True)
    assert [(r["run_id"], r["status"]) for r in kept] == [("good", "running"), ("bad", CORRUPT)]
    assert "runs/bad/run.json" in kept[1]["status_reason"]
    with pytest.raises(CorruptRecordError, match=r"steps/train/0/1\.json"):
        read.attempt(FLOW, "good", "train", "0", 1)
    found = read.task(FLOW, "good", "train", "0")
    assert found.successful["attempt"] == 0 and found.current()["attempt"] == 0  # an older success still counts
    assert found.error_attempt == 1 and "steps/train/0/1.json" in str(found.error)
    backend.write(f"{FLOW}/runs/good/steps/train/0/0.json", b"[]")  # no success left: the newest raises
    with pytest.raises(CorruptRecordError, match=r"steps/train/0/1\.json"):
        read.task(FLOW, "good", "train", "0").current()


def test_the_cache_keeps_a_finished_run_only_for_its_ttl(backend: StorageBackend, monkeypatch) -> None:
    ds = FlowDatastore(FLOW, backend)
    _run(ds, "r1", "2026-12-07T10:00:00+00:00", ["user:a"])
    ds.end_run("r1", "success")
    clock = [1000.0]
    monkeypatch.setattr(reader.time, "monotonic", lambda: clock[0])
    cached, fresh = Reader(backend, ReaderCache(ttl=5.0)), Reader(backend)
    assert cached.run(FLOW, "r1")["tags"] == ["user:a"]
    ds.tag_run("r1", "prod")
    assert fresh.run(FLOW, "r1")["tags"] == ["prod", "user:a"]  # the client's reader: no cache
    clock[0] += 4.0
    assert cached.run(FLOW, "r1")["tags"] == ["user:a"]  # within the TTL: the cached meta
    clock[0] += 2.0
    assert cached.run(FLOW, "r1")["tags"] == ["prod", "user:a"]  # expired: read again
    # a running run is never cached; an ended attempt is kept for good (it never changes)
    _run(ds, "r2", "2026-12-07T11:00:00+00:00", [])
    assert cached.run(FLOW, "r2")["status"] == "running"
    ds.end_run("r2", "failed")
    assert cached.run(FLOW, "r2")["status"] == "failed"
    _attempt(ds, "r1", "start", "0", 0, "success")
    assert cached.attempt(FLOW, "r1", "start", "0", 0)["status"] == "success"
    backend.delete(f"{FLOW}/runs/r1/steps/start/0/0.json")
    clock[0] += 3600.0
    assert cached.attempt(FLOW, "r1", "start", "0", 0)["status"] == "success"


def test_the_flow_behind_a_dag_and_the_artifact_keys_of_a_run(backend: StorageBackend) -> None:
    renamed = FlowDatastore("RenamedFlow", backend)
    _run(renamed, "r1", "2026-12-07T10:00:00+00:00", [], dag_id="scan_dag")
    _attempt(renamed, "r1", "start", "0", 0, "success", artifacts={"x": {"key": "a" * 64}})
    _attempt(renamed, "r1", "body", "1", 0, "failed", artifacts={"y": {"key": "b" * 64}})
    write_dag_index(backend, "index_dag", "RenamedFlow")
    read = Reader(backend)
    assert read.flow_for_dag("index_dag") == "RenamedFlow"
    assert read.flow_for_dag("scan_dag") == "RenamedFlow"  # no index entry: found by its runs
    assert read.flow_for_dag("RenamedFlow") == "RenamedFlow"
    assert read.flow_for_dag("no_such_dag") is None
    assert read.artifact_keys("RenamedFlow", "r1") == {("start", "0", "x"): "a" * 64}  # successful attempts only
