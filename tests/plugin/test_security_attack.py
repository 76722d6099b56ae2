"""Issue 16 end to end: the trigger-conf attack through ``airflow dags test`` and the plugin pages,
and the plugin's bounded query input, against the real api-server of ``conftest.py``.

The attack as reported: ``airflow dags test IncludeRel -c '{"data": "/proc/self/environ"}'``
stored the worker's environment, and a user with read access only (``alice``, a viewer) saw
``FAKE_WORKER_SECRET=...`` on the task page. Now the start task fails before user code, nothing
of the file reaches the store, and the pages show the refusal instead.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "tests" / "flows" / "include_rel_flow.py"
SECRET = "fake-worker-secret-4f2a9c"
INPUT = "the flow's own input, fine to show\n"
P = "/ml-artifacts"


def _dags_test(server, conf: dict | None) -> subprocess.CompletedProcess:
    env = {
        **server.env,
        "FAKE_WORKER_SECRET": SECRET,
        "AIRFLOW__ML_PROVIDER__EXECUTION_MODE": "local",
    }
    args = [str(Path(sys.executable).parent / "airflow"), "dags", "test", "IncludeRel"]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    for _ in range(3):  # SQLite is shared with the running api-server: retry a lost write race
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        if "database is locked" not in done.stderr:
            break
        time.sleep(2)
    return done


def _runs(root: Path) -> dict[str, Path]:
    """Store run folders of IncludeRel by Airflow run id."""
    out = {}
    for record in (root / "IncludeRel" / "runs").glob("*/run.json"):
        out[json.loads(record.read_text())["airflow_run_id"]] = record.parent
    return out


@pytest.fixture(scope="module")
def attacked(airflow_server):
    """The attack run, then an honest run with the flow's default path, both in the server's store."""
    dags = airflow_server.home / "dags"
    shutil.copy(FLOW, dags / "include_rel_flow.py")
    (dags / "include_rel_data").mkdir(exist_ok=True)
    (dags / "include_rel_data" / "input.txt").write_text(INPUT)
    root = airflow_server.home / "ml_artifacts"
    attack = _dags_test(airflow_server, {"data": "/proc/self/environ"})
    after_attack = _runs(root)
    honest = _dags_test(airflow_server, None)
    honest_ids = set(_runs(root)) - set(after_attack)
    return attack, after_attack, honest, honest_ids, root


def test_the_attack_fails_before_user_code_and_stores_nothing_of_the_file(attacked) -> None:
    attack, attack_ids, _honest, _ids, root = attacked
    log = attack.stdout + attack.stderr
    assert attack.returncode != 0
    assert "IncludeFile 'data': path '/proc/self/environ' is outside the allowed folders" in log
    assert SECRET not in log
    leaked = [p for p in root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    (run_dir,) = attack_ids.values()
    attempts = list(run_dir.glob("steps/start/1/*.json"))
    assert attempts and not any("user_code_ran" in p.read_text() for p in attempts)  # no artifact of user code


def test_a_dag_reader_sees_the_refusal_not_the_file(airflow_server, attacked) -> None:
    _attack, attack_ids, honest, honest_ids, _root = attacked
    (run_id,) = attack_ids
    base = f"{P}/dags/IncludeRel/runs/{quote(run_id, safe='')}"
    pages = [
        base,
        f"{base}/steps/start/tasks/1",
        f"{base}/tasks/start?map_index=-1",
        f"{P}/api/dags/IncludeRel/runs/{quote(run_id, safe='')}",
    ]
    for url in pages:
        resp = airflow_server.get(url, "alice")  # a viewer: read access to the DAG only
        assert resp.status in (200, 404), (url, resp.status)
        assert SECRET not in resp.text and "FAKE_WORKER_SECRET" not in resp.text, url
    task = airflow_server.get(f"{base}/steps/start/tasks/1", "alice")
    assert task.status == 200 and "outside the allowed folders" in task.text

    # Control: the same page for the honest run shows what the flow read, so the page would
    # have shown the environment had it been stored.
    assert honest.returncode == 0, (honest.stdout + honest.stderr)[-4000:]
    (honest_id,) = honest_ids
    page = airflow_server.get(f"{P}/dags/IncludeRel/runs/{quote(honest_id, safe='')}/steps/start/tasks/1", "alice")
    assert page.status == 200 and "the flow&#x27;s own input" in page.text


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("?tag=" + "t" * 300, 400, "a query parameter is longer than 256 characters"),
        ("?" + "&".join(f"p{i}=1" for i in range(17)), 400, "more than 16 query parameters"),
        (
            "?tag=" + "t" * 250 + "".join(f"&x{i}=" + "v" * 250 for i in range(9)),
            414,
            "query string longer than 2048 bytes",
        ),
    ],
)
def test_plugin_query_input_is_bounded(airflow_server, query: str, status: int, reason: str) -> None:
    for url in (f"{P}/api/flows{query}", f"{P}/{query}"):
        resp = airflow_server.get(url, "alice")
        assert resp.status == status, (url, resp.status, resp.text[:200])
        assert resp.json() == {"detail": reason}
    assert airflow_server.get(f"{P}/api/flows?tag=" + "t" * 256, "alice").status == 200


def test_plugin_path_length_is_bounded(airflow_server) -> None:
    resp = airflow_server.get(f"{P}/dags/" + "d" * 3000, "alice")
    assert resp.status == 414 and resp.json() == {"detail": "URL path longer than 2048 bytes"}
