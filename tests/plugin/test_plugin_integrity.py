"""The plugin on a store with rot in it, through the real api-server: marked, never a 500.

A run of ``RotFlow`` is written into the server's artifact root for the length of the test (and
removed after, so the other plugin tests see the store they expect): one artifact's blob has a
flipped byte and another step's attempt record is truncated.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
from airflow_ml_provider.datastore.records import now_iso
from airflow_ml_provider.plugin.queries import clear_caches

P = "/ml-artifacts"
FLOW = "RotFlow"


def _write_run(root: str) -> dict[str, str]:
    ds = FlowDatastore(FLOW, LocalBackend(root))
    ds.create_run("r1", {"flow_name": FLOW, "run_id": "r1", "dag_id": FLOW, "driver": "airflow",
                         "created_at": now_iso(), "tags": ["user:admin"], "steps": ["start", "end"]})  # fmt: skip
    keys = {}
    for step, values in (("start", {"x": 1}), ("end", {"good": [1, 2], "rotten": {"weights": [0.5]}})):
        recs = {}
        for name, value in values.items():
            rec = ds.save_artifact(name, value)
            rec.pop("written")
            recs[name] = rec
            keys[name] = rec["key"]
        meta = {"flow_name": FLOW, "run_id": "r1", "step": step, "task_id": "0", "attempt": 0,
                "status": "success", "started_at": now_iso(), "finished_at": now_iso(),
                "artifacts": recs, "new_artifacts": sorted(recs)}  # fmt: skip
        ds.mark_started("r1", step, "0", 0, meta)
        ds.write_attempt("r1", step, "0", 0, meta)
    ds.end_run("r1", "success")
    blob = Path(root, ds.blob_path(keys["rotten"]))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    attempt = Path(root, FLOW, "runs", "r1", "steps", "start", "0", "0.json")
    attempt.write_bytes(attempt.read_bytes()[:40])
    return keys


def test_rotten_blob_and_truncated_record_are_marked_not_500(airflow_server):
    s = airflow_server
    root = s.ids["root"]
    keys = _write_run(root)
    clear_caches()
    try:
        page = s.get(f"{P}/dags/{FLOW}/runs/r1/steps/end/tasks/0")
        assert page.status == 200
        assert "artifact <b>rotten</b> is corrupt" in page.text
        assert "artifact <b>good</b> is" not in page.text
        blob = s.get(f"{P}/dags/{FLOW}/runs/r1/steps/end/tasks/0/blobs/{keys['rotten']}")
        assert blob.status == 409 and "is corrupt" in blob.json()["detail"] and FLOW in blob.json()["detail"]
        assert s.get(f"{P}/dags/{FLOW}/runs/r1/steps/end/tasks/0/blobs/{keys['good']}").status == 200
        start = s.get(f"{P}/dags/{FLOW}/runs/r1/steps/start/tasks/0")
        assert start.status == 200 and "corrupt" in start.text and "0.json" in start.text
        assert s.get(f"{P}/dags/{FLOW}/runs/r1").status == 200
    finally:
        shutil.rmtree(Path(root, FLOW), ignore_errors=True)
