"""Artifact-store contents for the plugin tests, written with FlowDatastore (the real format).

Flows and what they exercise:

- ``TableFlow`` (DAG ``TableFlow``): two runs. Run A has a table, an array, scalars, text, JSON, an
  image and a ``train`` step whose attempt 0 failed and attempt 1 succeeded. Run B changes ``df``
  only, so the comparison must report exactly that artifact as changed.
- ``BigFlow``: a foreach step with 1000 tasks (paging and timing).
- ``RenamedFlow`` (DAG ``renamed_dag``, found through ``_dags/renamed_dag.json``) and ``ScanFlow``
  (DAG ``scan_dag``, no index file: found by scanning run.json).
- ``DeniedFlow``: the DAG the test auth manager hides from user ``bob``.
- ``HostileFlow``: markup and quotes in artifact names, previews, tags and parameters.
- ``CardFlow`` and a card of ``DeniedFlow``: see ``card_fixtures.py``.
"""

from __future__ import annotations

import base64
import itertools
import struct
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from card_fixtures import build_cards

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend, StorageBackend, encode_run_id
from airflow_ml_provider.datastore.records import dumps

RUN_A = "manual__2026-11-27T10:00:00+00:00_aaaa"
RUN_B = "manual__2026-11-27T11:00:00+00:00_bbbb"
BIG_RUN = "manual__2026-11-27T12:00:00+00:00_big"
BIG_TASKS = 1000
XSS = "<script>alert('x')</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A valid solid-colour PNG built by hand (no PIL in the venv)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x1f\x77\xb4" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _run(ds: FlowDatastore, airflow_run_id: str, dag_id: str, created: str, **extra: Any) -> str:
    run_id = encode_run_id(airflow_run_id)
    meta = {
        "flow_name": ds.flow_name,
        "run_id": run_id,
        "airflow_run_id": airflow_run_id,
        "dag_id": dag_id,
        "run_type": "manual",
        "parameters": {"alpha": 0.5},
        "code_hash": "c0de" * 16,
        "created_at": created,
        "finished_at": created.replace(":00+", ":42+"),
        "status": "success",
        "tags": ["user:admin", "run_type:manual"],
        "logical_date": None,
        "origin_run_id": None,
        "flow_file": "flow.py",
    }
    meta.update(extra)
    # Format 1 (status rewritten in run.json): fixtures keep writing it, so old stores stay readable.
    ds.backend.write(f"{ds.flow_name}/runs/{run_id}/run.json", dumps(meta))
    return run_id


_TICKS = itertools.count()


def _clock() -> str:
    """Strictly increasing timestamps: attempts are written in the order they ran."""
    return (datetime(2026, 11, 27, 10, tzinfo=timezone.utc) + timedelta(seconds=next(_TICKS))).isoformat()


def _attempt(
    ds: FlowDatastore,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int,
    artifacts: dict[str, Any],
    *,
    status: str = "success",
    new: list[str] | None = None,
    map_index: int = -1,
    foreach_stack: list[dict[str, Any]] | None = None,
    exception: dict[str, Any] | None = None,
    dag_id: str | None = None,
) -> dict[str, Any]:
    meta = {
        "flow_name": ds.flow_name,
        "run_id": run_id,
        "step": step,
        "task_id": task_id,
        "attempt": attempt,
        "status": status,
        "started_at": _clock(),
        "finished_at": _clock(),
        "duration_s": 1.0,
        "parents": [],
        "foreach_stack": foreach_stack or [],
        "artifacts": artifacts,
        "new_artifacts": new if new is not None else sorted(artifacts),
        "execution": {
            "mode": "local",
            "host": "worker-1",
            "image": None,
            "pod_name": None,
            "resources": {"cpu": 2, "memory": 4096, "gpu": 0, "disk": None},
            "resources_enforced": False,
        },
        "airflow": {
            "dag_id": dag_id or ds.flow_name,
            "task_id": step,
            "map_index": map_index,
            "try_number": attempt + 1,
        },
    }
    if exception:
        meta["exception"] = exception
    ds.mark_started(run_id, step, task_id, attempt, meta)
    ds.write_attempt(run_id, step, task_id, attempt, meta)
    return meta


def _table_flow_run(ds: FlowDatastore, airflow_run_id: str, created: str, scale: float) -> str:
    run_id = _run(ds, airflow_run_id, "TableFlow", created, steps=["start", "train", "end"])  # as real runs record
    start = {"alpha": ds.save_artifact("alpha", 0.5)}
    _attempt(ds, run_id, "start", "0", 0, start)
    df = pd.DataFrame(
        {"feature": np.arange(100) * scale, "label": ["cat", "dog"] * 50, "weight": np.linspace(0, 1, 100)}
    )
    image = ds.save_artifact("plot_png", tiny_png())
    image["preview"] = {"kind": "image", "png_base64": base64.b64encode(tiny_png()).decode()}
    train = {
        **start,
        "df": ds.save_artifact("df", df),
        "weights": ds.save_artifact("weights", np.arange(1000, dtype="float64") / 10),
        "accuracy": ds.save_artifact("accuracy", 0.9375),
        "note": ds.save_artifact("note", "trained on cats and dogs"),
        "config": ds.save_artifact("config", {"layers": [64, 32], "optimizer": "adam"}),
        "plot_png": image,
    }
    _attempt(
        ds,
        run_id,
        "train",
        "0",
        0,
        {},
        status="failed",
        new=[],
        exception={"type": "RuntimeError", "message": "CUDA out of memory", "traceback": "Traceback ...\n"},
    )
    _attempt(ds, run_id, "train", "0", 1, train, new=["df", "weights", "accuracy", "note", "config", "plot_png"])
    _attempt(ds, run_id, "end", "0", 0, train, new=[])
    return run_id


def build_table_flow(backend: StorageBackend) -> dict[str, Any]:
    """Just ``TableFlow``'s two runs (enough for the S3 test)."""
    table = FlowDatastore("TableFlow", backend)
    return {
        "run_a": _table_flow_run(table, RUN_A, "2026-11-27T10:00:00+00:00", 1.0),
        "run_b": _table_flow_run(table, RUN_B, "2026-11-27T11:00:00+00:00", 2.0),
    }


def build_store(root: str) -> dict[str, Any]:
    """Write every fixture flow under ``root``; returns the ids the tests need."""
    backend = LocalBackend(root)
    ids: dict[str, Any] = {"root": root, **build_table_flow(backend)}

    big = FlowDatastore("BigFlow", backend)
    run = _run(big, BIG_RUN, "BigFlow", "2026-11-27T12:00:00+00:00", steps=["start", "process", "join"])
    items = ds_items = list(range(BIG_TASKS))
    start = {"items": big.save_artifact("items", ds_items)}
    _attempt(big, run, "start", "0", 0, start, dag_id="BigFlow")
    for i in items:
        stack = [{"step": "start", "var": "items", "index": i, "num_splits": BIG_TASKS, "value": repr(i)}]
        arts = {**start, "result": big.save_artifact("result", i * i)}
        _attempt(big, run, "process", str(i), 0, arts, new=["result"], map_index=i, foreach_stack=stack)
    _attempt(big, run, "join", "0", 0, {"total": big.save_artifact("total", sum(i * i for i in items))})
    ids["big_run"] = run

    renamed = FlowDatastore("RenamedFlow", backend)
    ids["renamed_run"] = _run(renamed, "manual__renamed_1", "renamed_dag", "2026-11-26T09:00:00+00:00")
    _attempt(
        renamed,
        ids["renamed_run"],
        "start",
        "0",
        0,
        {"x": renamed.save_artifact("x", 1)},
        dag_id="renamed_dag",
    )
    backend.write("_dags/renamed_dag.json", b'{"flow_name": "RenamedFlow"}')
    scan = FlowDatastore("ScanFlow", backend)
    ids["scan_run"] = _run(scan, "manual__scan_1", "scan_dag", "2026-11-26T08:00:00+00:00", tags=["team:scan"])
    _attempt(scan, ids["scan_run"], "start", "0", 0, {"y": scan.save_artifact("y", 2)}, dag_id="scan_dag")

    denied = FlowDatastore("DeniedFlow", backend)
    ids["denied_run"] = _run(denied, "manual__denied_1", "DeniedFlow", "2026-11-26T07:00:00+00:00", tags=["secret"])
    _attempt(denied, ids["denied_run"], "start", "0", 0, {"secret": denied.save_artifact("secret", "s3cr3t")})

    hostile = FlowDatastore("HostileFlow", backend)
    ids["hostile_run"] = _run(
        hostile,
        "manual__hostile_1",
        "HostileFlow",
        "2026-11-26T06:00:00+00:00",
        tags=[XSS, "x'y"],
        parameters={XSS: XSS_IMG},
    )
    hostile_df = pd.DataFrame({XSS: [XSS, XSS_IMG], "ok": [1, 2]})
    arts = {
        XSS: hostile.save_artifact(XSS, XSS_IMG),
        "table": hostile.save_artifact("table", hostile_df),
        "blob": hostile.save_artifact("blob", {XSS: [XSS_IMG]}),
    }
    arts["bad_image"] = {**arts["blob"], "preview": {"kind": "image", "png_base64": XSS_IMG}}
    _attempt(hostile, ids["hostile_run"], "start", "0", 0, arts)
    ids["hostile_key"] = arts[XSS]["key"]
    ids.update(build_cards(backend, ids, _run, _attempt))
    return ids
