"""The XCom backend under ``airflow dags test``: a plain TaskFlow DAG and a flow with foreach.

One module-scoped run each (about 10 s apiece); the tests then read the Airflow database
(``$AIRFLOW_HOME/airflow.db``, table ``xcom``) and the artifact store directly.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_ml_provider.xcom.reference import MARKER, REFERENCE_MAX_BYTES
from tests.fixtures.airflow_local import airflow_env, dags_test

HERE = Path(__file__).parent
BACKEND = "airflow_ml_provider.xcom.ArtifactXComBackend"


@pytest.fixture(scope="module")
def xcom_env(dags_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    shutil.copy(HERE / "dags" / "xcom_taskflow.py", dags_folder / "xcom_taskflow.py")
    work = tmp_path_factory.mktemp("xcom")
    return airflow_env(
        AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
        AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(work / "artifacts"),
        ML_XCOM_TEST_RESULT=str(work / "verdict.json"),
    )


def _db(airflow_home: Path) -> sqlite3.Connection:
    return sqlite3.connect(airflow_home / "airflow.db")


def _last_run(airflow_home: Path, dag_id: str) -> tuple[str, str]:
    with _db(airflow_home) as db:
        query = "SELECT run_id, state FROM dag_run WHERE dag_id=? ORDER BY id DESC LIMIT 1"
        row = db.execute(query, (dag_id,)).fetchone()
    assert row, f"no dag run of {dag_id}"
    return row[0], row[1]


def _xcoms(airflow_home: Path, dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
    with _db(airflow_home) as db:
        rows = db.execute(
            "SELECT task_id, map_index, CAST(value AS TEXT) FROM xcom "
            "WHERE dag_id=? AND run_id=? AND key='return_value'",
            (dag_id, run_id),
        ).fetchall()
    return {(task, index): value for task, index, value in rows}


def _as_doc(raw: str) -> object:
    doc = json.loads(raw)
    if not isinstance(doc, str):
        return doc
    try:  # a document stored as a JSON string
        return json.loads(doc)
    except ValueError:  # a plain string value, e.g. a foreach body task's own id "2-0"
        return doc


@pytest.fixture(scope="module")
def taskflow_run(xcom_env: dict[str, str], airflow_home: Path) -> dict[str, object]:
    started = time.monotonic()
    result = dags_test("ml_xcom_taskflow", env=xcom_env)
    elapsed = time.monotonic() - started
    run_id, state = _last_run(airflow_home, "ml_xcom_taskflow")
    assert state == "success", (state, result.stdout[-4000:], result.stderr[-4000:])
    return {"run_id": run_id, "elapsed": elapsed, "log": result.stdout + result.stderr}


def test_downstream_received_equal_values(taskflow_run: dict, xcom_env: dict[str, str]) -> None:
    verdict = json.loads(Path(xcom_env["ML_XCOM_TEST_RESULT"]).read_text())
    assert verdict["ok"] and verdict["frame_rows"] == 50_000 and verdict["array_shape"] == [300, 400]


def test_database_holds_only_small_references(taskflow_run: dict, airflow_home: Path) -> None:
    rows = _xcoms(airflow_home, "ml_xcom_taskflow", taskflow_run["run_id"])
    assert set(rows) == {(t, -1) for t in ("frame_a", "frame_b", "array", "params", "big_dict", "check")}
    for (task, _), raw in rows.items():
        assert len(raw) <= REFERENCE_MAX_BYTES, (task, len(raw))
    frame = _as_doc(rows[("frame_a", -1)])
    assert frame[MARKER] == 1 and frame["serializer"] == "pandas-dataframe"
    assert frame["type"] == "pandas.DataFrame" or frame["type"].endswith("DataFrame")
    assert frame["size"] > 1_000_000  # 50k rows of Arrow IPC, not in the DB
    assert frame["preview"]["kind"] == "table" and frame["preview"]["shape"] == [50_000, 3]
    array = _as_doc(rows[("array", -1)])
    assert array["serializer"] == "numpy-npy" and array["preview"]["shape"] == [300, 400]
    assert _as_doc(rows[("big_dict", -1)])["serializer"] == "pickle"
    # small JSON stays inline, readable in the UI
    assert _as_doc(rows[("params", -1)]) == {"alpha": 0.5, "layers": [64, 32], "name": "model-a",
                                              "nested": {"ok": True, "n": None}}  # fmt: skip
    assert _as_doc(rows[("check", -1)]) == 50_000


def test_same_dataframe_is_one_blob(taskflow_run: dict, airflow_home: Path, xcom_env: dict[str, str]) -> None:
    rows = _xcoms(airflow_home, "ml_xcom_taskflow", taskflow_run["run_id"])
    a, b = _as_doc(rows[("frame_a", -1)]), _as_doc(rows[("frame_b", -1)])
    assert a["key"] == b["key"]
    assert sorted([a["written"], b["written"]]) == [False, True]  # the second push found it stored
    data = Path(xcom_env["AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT"], "_xcom", "data")
    blobs = sorted(p.name for p in data.rglob("*") if p.is_file())
    refs = {_as_doc(v)["key"] for v in rows.values() if isinstance(_as_doc(v), dict) and MARKER in _as_doc(v)}
    assert blobs == sorted(refs) and len(blobs) == 3  # frame (once), array, big dict
    assert blobs.count(a["key"]) == 1


def test_gc_keeps_referenced_blobs_and_deletes_orphans(
    taskflow_run: dict, airflow_home: Path, xcom_env: dict[str, str]
) -> None:
    root = Path(xcom_env["AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT"])
    data = root / "_xcom" / "data"
    before = sorted(p.name for p in data.rglob("*") if p.is_file())
    orphan = data / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"unreferenced")
    old = time.time() - 3 * 86400
    for path in [orphan, *data.rglob("*")]:
        os.utime(path, (old, old))  # every blob is old: only references can save them
    fresh = data / "cd" / ("cd" + "1" * 62)
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"just written, row not committed yet")

    def gc(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "airflow_ml_provider.xcom", "gc", *args],
                             env=xcom_env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout[out.stdout.index("{") :])

    dry = gc("--dry-run")
    assert dry["deleted"] == 1 and orphan.exists()
    report = gc()
    assert report["deleted_keys"] == [orphan.name] and report["referenced"] == 3 and report["too_recent"] == 1
    assert not orphan.exists() and fresh.exists()
    assert sorted(p.name for p in data.rglob("*") if p.is_file()) == sorted([*before, fresh.name])


def test_foreach_flow_runs_with_the_backend(xcom_env: dict[str, str], airflow_home: Path) -> None:
    result = dags_test("ForeachFlow", env=xcom_env)
    run_id, state = _last_run(airflow_home, "ForeachFlow")
    assert result.returncode == 0 and state == "success", result.stdout[-4000:] + result.stderr[-4000:]
    rows = {k: _as_doc(v) for k, v in _xcoms(airflow_home, "ForeachFlow", run_id).items()}
    split = [v for (task, _), v in rows.items() if task == "start"]
    assert split == [["2-0", "2-1", "2-2", "2-3"]]  # the task-id list stays inline: the mapping reads it
    mapped = sorted(index for (task, index) in rows if task == "select")
    assert mapped == [0, 1, 2, 3]
