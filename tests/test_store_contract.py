"""The store contract (datastore/records.py): write-once records folded on read, liveness, integrity.

Each test plays a fault a user or an operator meets (two taggers at once, a tag edit while a run
finishes, a dead writer, a flipped byte, a truncated file) and checks what the client, ``show``
and the UI plugin then say. The same tests run on a local root and on S3 (moto_server over HTTP).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_ml_provider import cli
from airflow_ml_provider.client import Flow, Run, Task, namespace, set_artifact_root
from airflow_ml_provider.datastore import (
    FAILED,
    RUNNING,
    SUCCESS,
    ArtifactIntegrityError,
    CorruptRecordError,
    FlowDatastore,
    LocalBackend,
    get_backend,
    records,
)
from airflow_ml_provider.datastore.records import dumps

FLOW = "ContractFlow"


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An artifact root URL: a temporary folder, or a fresh bucket on moto_server."""
    if request.param == "local":
        return str(tmp_path / "store")
    raw_s3 = request.getfixturevalue("raw_s3")
    bucket = request.getfixturevalue("bucket")
    assert raw_s3 is not None
    return f"s3://{bucket}/store"


@pytest.fixture
def client_at(root: str):
    set_artifact_root(root)
    namespace(None)
    yield root
    set_artifact_root(None)


def _run(ds: FlowDatastore, run_id: str, *, driver: str = "airflow", created: str | None = None) -> None:
    ds.create_run(run_id, {"flow_name": ds.flow_name, "run_id": run_id, "driver": driver,  # type: ignore[typeddict-item]
                           "created_at": created or records.now_iso(), "tags": ["user:alice", "run_type:manual"],
                           "steps": ["start", "end"]})  # fmt: skip


def _task(ds: FlowDatastore, run_id: str, step: str, artifacts: dict[str, object], status: str = SUCCESS) -> dict:
    recs = {}
    for name, value in artifacts.items():
        rec = ds.save_artifact(name, value)
        rec.pop("written")
        recs[name] = rec
    meta = {"flow_name": ds.flow_name, "run_id": run_id, "step": step, "task_id": "0", "attempt": 0,
            "status": status, "started_at": records.now_iso(), "finished_at": records.now_iso(),
            "artifacts": recs, "new_artifacts": sorted(recs)}  # fmt: skip
    ds.mark_started(run_id, step, "0", 0, meta)
    ds.write_attempt(run_id, step, "0", 0, meta)
    return meta


# -- the format page matches the records -------------------------------------------------------
def test_format_md_names_every_field_of_every_record() -> None:
    text = (Path(records.__file__).parent / "FORMAT.md").read_text()
    missing = []
    for record in (records.RunRecord, records.AttemptRecord, records.ArtifactRecord, records.ForeachRecord,
                   records.ForeachFrame, records.RunEvent, records.Heartbeat, records.SwitchRecord,
                   records.TriggerEvent):  # fmt: skip
        for field in typing.get_type_hints(record):
            if f'"{field}"' not in text and f"`{field}`" not in text:
                missing.append(f"{record.__name__}.{field}")
    assert missing == []
    assert f"version {records.FORMAT_VERSION}" in text


# -- write once, fold on read --------------------------------------------------------------------
def test_run_json_is_written_once(root: str, client_at: str) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    _run(ds, "r1")
    assert ds.create_run("r1", {"flow_name": FLOW, "run_id": "r1", "tags": ["other"]}) is False
    assert ds.read_run("r1")["tags"] == ["run_type:manual", "user:alice"]


def test_newest_ended_event_decides_the_status(root: str, client_at: str) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    _run(ds, "r1")
    assert ds.read_run("r1")["status"] == RUNNING
    ds.end_run("r1", FAILED, "train/0 failed: ValueError: boom")
    run = Run(f"{FLOW}/r1")
    assert (run.status, run.status_reason, run.finished) == (FAILED, "train/0 failed: ValueError: boom", True)
    ds.end_run("r1", SUCCESS)  # a cleared task re-ran and the end step succeeded
    assert Run(f"{FLOW}/r1").status == SUCCESS


_TAGGER = """
import sys
from airflow_ml_provider.client import Run, namespace, set_artifact_root
set_artifact_root(sys.argv[1])
namespace(None)
run = Run(sys.argv[2])
for i in range(int(sys.argv[4])):
    run.add_tag(f"{sys.argv[3]}-{i}")
"""


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]


def test_two_processes_tagging_at_once_lose_nothing(root: str, client_at: str) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    _run(ds, "r1")
    _wait_all([_spawn(_TAGGER, root, f"{FLOW}/r1", who, "50") for who in ("a", "b")])
    tags = Run(f"{FLOW}/r1").user_tags
    assert tags == {f"{who}-{i}" for who in "ab" for i in range(50)}


_FINISHER = """
import sys
from airflow_ml_provider.datastore import FlowDatastore, get_backend
ds = FlowDatastore(sys.argv[2], get_backend(sys.argv[1]))
for i in range(20):
    ds.end_run(f"r{i}", "success")
"""
_RUN_TAGGER = """
import sys
from airflow_ml_provider.client import Run, namespace, set_artifact_root
set_artifact_root(sys.argv[1])
namespace(None)
for i in range(20):
    Run(f"{sys.argv[2]}/r{i}").add_tag("reviewed")
"""


def test_tag_edits_while_runs_finish_lose_neither(root: str, client_at: str) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    for i in range(20):
        _run(ds, f"r{i}")
    _wait_all([_spawn(_FINISHER, root, FLOW), _spawn(_RUN_TAGGER, root, FLOW)])
    runs = Flow(FLOW).runs()
    assert len(runs) == 20
    assert all(r.successful is False and r.status == SUCCESS for r in runs)  # no end task: status from events
    assert all("reviewed" in r.tags for r in runs)


def test_tag_api(root: str, client_at: str) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    _run(ds, "r1")
    run = Run(f"{FLOW}/r1")
    run.add_tags(["a", "b"])
    run.replace_tag("a", "c")
    run.remove_tag("b")
    assert Run(f"{FLOW}/r1").user_tags == {"c"}
    assert Run(f"{FLOW}/r1").system_tags == {"user:alice", "run_type:manual"}
    with pytest.raises(ValueError, match="cannot remove system tags"):
        run.remove_tag("user:alice")
    with pytest.raises(ValueError, match="non-empty string"):
        run.add_tag("")
    with pytest.raises(ValueError, match="at least one tag"):
        run.replace_tags([], [])


# -- liveness ------------------------------------------------------------------------------------
def _ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat()


def test_a_silent_attempt_is_shown_failed_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__HEARTBEAT_TIMEOUT", "60")
    ds = FlowDatastore(FLOW, LocalBackend(tmp_path))
    _run(ds, "r1")
    ds.mark_started("r1", "train", "0", 0, {"attempt": 0, "started_at": _ago(600)})
    ds.backend.write(f"{FLOW}/runs/r1/steps/train/0/0.heartbeat.json", dumps({"at": _ago(300), "by": "h:1"}))
    meta = ds.read_attempt("r1", "train", "0", 0)
    assert meta["status"] == FAILED
    assert re.fullmatch(r"no heartbeat since \S+", meta["liveness"])
    ds.heartbeat_attempt("r1", "train", "0", 0)  # the writer is alive after all
    assert ds.read_attempt("r1", "train", "0", 0)["status"] == RUNNING


def test_a_local_run_whose_runner_went_silent_is_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__HEARTBEAT_TIMEOUT", "60")
    ds = FlowDatastore(FLOW, LocalBackend(tmp_path))
    _run(ds, "local1", driver="local-runner", created=_ago(900))
    ds.backend.write(f"{FLOW}/runs/local1/heartbeat.json", dumps({"at": _ago(120), "by": "h:1"}))
    _run(ds, "airflow1", created=_ago(900))  # Airflow drives it: queued tasks have nobody to beat
    meta = ds.read_run("local1")
    assert meta["status"] == FAILED and meta["status_reason"].startswith("no heartbeat since ")
    assert ds.read_run("airflow1")["status"] == RUNNING
    ds.heartbeat_run("local1")
    assert ds.read_run("local1")["status"] == RUNNING


def test_format_1_runs_still_read(tmp_path: Path) -> None:
    ds = FlowDatastore(FLOW, LocalBackend(tmp_path))
    old = {"flow_name": FLOW, "run_id": "old", "status": "success", "finished_at": "2026-11-01T00:00:00+00:00",
           "tags": ["user:bob", "prod"], "created_at": "2026-11-01T00:00:00+00:00"}  # fmt: skip
    ds.backend.write(f"{FLOW}/runs/old/run.json", dumps(old))
    meta = ds.read_run("old")
    assert (meta["status"], meta["finished_at"], meta["tags"]) == (SUCCESS, old["finished_at"], ["prod", "user:bob"])
    ds.tag_run("old", "reviewed")
    assert "reviewed" in ds.read_run("old")["tags"]


# -- integrity -----------------------------------------------------------------------------------
VALUES = {
    "pickled": {"weights": [0.25, 0.5, 0.75], "name": "model"},
    "frame": pd.DataFrame({"x": np.arange(1000, dtype="float64"), "y": np.arange(1000)}),
    "array": np.arange(4096, dtype="int64"),
}


def _flip_byte(ds: FlowDatastore, key: str) -> None:
    path = ds.blob_path(key)
    data = bytearray(bytes(ds.backend.read(path)))
    data[len(data) // 2] ^= 0x01
    ds.backend.write(path, bytes(data))


@pytest.mark.parametrize("name", sorted(VALUES))
def test_a_flipped_byte_is_an_error_naming_the_artifact_never_a_wrong_value(
    root: str, client_at: str, name: str, capsys: pytest.CaptureFixture
) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    _run(ds, "r1")
    meta = _task(ds, "r1", "end", {name: VALUES[name], "fine": 42})
    ds.end_run("r1", SUCCESS)
    key = meta["artifacts"][name]["key"]
    _flip_byte(ds, key)
    task = Task(f"{FLOW}/r1/end/0")
    with pytest.raises(ArtifactIntegrityError) as err:
        task[name].data  # noqa: B018
    assert FLOW in str(err.value) and key in str(err.value) and name in str(err.value)
    assert "corrupt" in str(err.value)
    assert task["fine"].data == 42  # the other artifacts still load
    assert cli.main(["show", f"{FLOW}/r1"]) == 0
    out = capsys.readouterr().out
    bad = out[out.index(f"    {name}:") :]
    assert "error: artifact" in bad.splitlines()[1] and key in bad.splitlines()[1]
    assert "    fine: int (" in out and "\n      42\n" in out


def test_a_missing_blob_is_the_same_clear_error(root: str, client_at: str) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    _run(ds, "r1")
    meta = _task(ds, "r1", "end", {"x": [1, 2, 3]})
    key = meta["artifacts"]["x"]["key"]
    if isinstance(ds.backend, LocalBackend):
        Path(ds.backend.root, ds.blob_path(key)).unlink()
    else:
        prefix = f"{ds.backend.prefix}/" if ds.backend.prefix else ""
        ds.backend.client.delete_object(Bucket=ds.backend.bucket, Key=prefix + ds.blob_path(key))
    with pytest.raises(ArtifactIntegrityError, match=f"blob {key} is missing"):
        Task(f"{FLOW}/r1/end/0")["x"].data  # noqa: B018


# -- corrupt metadata ----------------------------------------------------------------------------
def _truncate(ds: FlowDatastore, path: str) -> None:
    data = bytes(ds.backend.read(path))
    ds.backend.write(path, data[: len(data) // 2])


def test_a_truncated_run_json_hides_only_that_run(root: str, client_at: str, capsys: pytest.CaptureFixture) -> None:
    ds = FlowDatastore(FLOW, get_backend(root))
    for run_id in ("good", "bad"):
        _run(ds, run_id)
        _task(ds, run_id, "end", {"x": 1})
        ds.end_run(run_id, SUCCESS)
    _truncate(ds, f"{FLOW}/runs/bad/run.json")
    assert [r.id for r in Flow(FLOW).runs()] == ["good"]
    assert Flow(FLOW).latest_successful_run.id == "good"
    with pytest.raises(CorruptRecordError, match=r"runs/bad/run\.json: corrupt metadata"):
        Run(f"{FLOW}/bad")
    assert cli.main(["show", f"{FLOW}/bad"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "runs/bad/run.json" in err


def test_a_truncated_attempt_json_is_named_and_the_rest_still_reads(root: str, client_at: str,
                                                                    capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    ds = FlowDatastore(FLOW, get_backend(root))
    _run(ds, "older")
    _task(ds, "older", "end", {"x": 1})
    ds.end_run("older", SUCCESS)
    _run(ds, "r1")
    _task(ds, "r1", "start", {"x": 1})
    _task(ds, "r1", "end", {"x": 2})
    ds.end_run("r1", SUCCESS)
    _truncate(ds, f"{FLOW}/runs/r1/steps/end/0/0.json")
    with pytest.raises(CorruptRecordError, match=r"steps/end/0/0\.json: corrupt metadata, not valid JSON"):
        Task(f"{FLOW}/r1/end/0", attempt=0)
    assert Flow(FLOW).latest_successful_run.id == "older"  # r1's end record is unreadable
    assert Task(f"{FLOW}/r1/start/0").data.x == 1
    assert cli.main(["show", f"{FLOW}/r1"]) == 0
    out = capsys.readouterr().out
    assert "task 0: error:" in out and "end/0/0.json" in out and "step start" in out


def test_the_plugin_marks_corrupt_records_and_blobs_instead_of_failing(tmp_path: Path) -> None:
    from airflow_ml_provider.plugin import pages
    from airflow_ml_provider.plugin.queries import StoreReader, clear_caches
    from airflow_ml_provider.plugin.urls import Urls

    clear_caches()
    backend = LocalBackend(tmp_path)
    ds = FlowDatastore(FLOW, backend)
    _run(ds, "r1")
    meta = _task(ds, "r1", "end", {"good": 1, "rotten": {"a": 1}})
    _task(ds, "r1", "start", {"x": 1})
    _truncate(ds, f"{FLOW}/runs/r1/steps/start/0/0.json")
    _flip_byte(ds, meta["artifacts"]["rotten"]["key"])
    reader = StoreReader(backend)
    assert reader.task(FLOW, "r1", "start", "0").status == "corrupt"
    summary = reader.with_integrity(FLOW, reader.task(FLOW, "r1", "end", "0"))
    arts = summary.shown["artifacts"]
    assert arts["rotten"]["integrity"].startswith("corrupt") and "integrity" not in arts["good"]
    run = {**ds.read_run("r1"), "dag_id": FLOW}
    html = pages.task_page(run, "end", summary, [summary.latest], Urls(""))
    assert "artifact <b>rotten</b> is corrupt" in html
    _truncate(ds, f"{FLOW}/runs/r1/run.json")
    clear_caches()
    assert reader.run_meta(FLOW, "r1")["status"] == "corrupt"


def test_event_files_are_json_objects_named_in_time_order(tmp_path: Path) -> None:
    ds = FlowDatastore(FLOW, LocalBackend(tmp_path))
    _run(ds, "r1")
    ds.tag_run("r1", "a")
    ds.end_run("r1", SUCCESS)
    names = ds.backend.list_dir(f"{FLOW}/runs/r1/events")
    assert [n.split("-")[1] for n in names] == ["tag", "ended"]
    docs = [json.loads(Path(tmp_path, FLOW, "runs/r1/events", n).read_text()) for n in names]
    assert docs[0]["tag"] == "a" and docs[1]["status"] == SUCCESS and all(":" in d["by"] for d in docs)


def test_an_unknown_artifact_root_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scheme 'ftp'"):
        get_backend("ftp://host/store")
    assert get_backend(f"file://{tmp_path}").root == str(tmp_path)
