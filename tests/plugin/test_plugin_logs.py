"""Task logs in the UI plugin, through the real api-server: linked per attempt, served as plain text.

A run of ``LogsUiFlow`` with stored logs is written into the server's artifact root for the length
of the test (and removed after, so the other plugin tests see the store they expect).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
from airflow_ml_provider.datastore.records import now_iso
from airflow_ml_provider.datastore.task_logs import format_lines
from airflow_ml_provider.plugin.queries import clear_caches

P = "/ml-artifacts"
FLOW = "LogsUiFlow"


def _write_run(root: str) -> None:
    ds = FlowDatastore(FLOW, LocalBackend(root))
    ds.create_run("r1", {"flow_name": FLOW, "run_id": "r1", "dag_id": FLOW, "driver": "airflow",
                         "created_at": now_iso(), "tags": ["user:admin"], "steps": ["start"]})  # fmt: skip
    for attempt, status in ((0, "failed"), (1, "success")):
        meta = {"flow_name": FLOW, "run_id": "r1", "step": "start", "task_id": "0", "attempt": attempt,
                "status": status, "started_at": now_iso(), "finished_at": now_iso(), "artifacts": {}}  # fmt: skip
        ds.mark_started("r1", "start", "0", attempt, meta)
        ds.write_attempt("r1", "start", "0", attempt, meta)
        out = [f"attempt {attempt} says hi".encode(), "<script>alert(1)</script> \u5e74".encode()]
        ds.write_log("r1", "start", "0", attempt, "stdout", format_lines(out, time.time()))
    ds.write_log("r1", "start", "0", 0, "stderr", format_lines([b"Traceback (most recent call last):"], time.time()))
    ds.end_run("r1", "success")


def test_task_page_links_each_attempts_logs_served_as_plain_text(airflow_server):
    s = airflow_server
    _write_run(s.ids["root"])
    clear_caches()
    task = f"{P}/dags/{FLOW}/runs/r1/steps/start/tasks/0"
    try:
        page = s.get(task)
        assert page.status == 200
        for attempt in (0, 1):
            for stream in ("stdout", "stderr"):
                assert f"href='{task}/attempts/{attempt}/{stream}'>{stream}</a>" in page.text

        out = s.get(f"{task}/attempts/1/stdout")
        assert out.status == 200
        assert out.headers["content-type"] == "text/plain; charset=utf-8"
        assert out.headers["x-content-type-options"] == "nosniff"
        assert out.text == "attempt 1 says hi\n<script>alert(1)</script> \u5e74\n"  # no stamps, as Task.stdout
        assert s.get(f"{task}/attempts/0/stderr").text == "Traceback (most recent call last):\n"
        assert s.get(f"{task}/attempts/1/stderr").text == ""  # nothing written to it

        for bad in ("attempts/7/stdout", "attempts/x/stdout", "attempts/-1/stdout", "attempts/0/stdin"):
            assert s.get(f"{task}/{bad}").status == 404, bad
        assert s.get(f"{P}/dags/{FLOW}/runs/r1/steps/start/tasks/..%2F..%2Fx/attempts/0/stdout").status == 404
        assert s.get(f"{P}/dags/{FLOW}/runs/r1/steps/nope/tasks/0/attempts/0/stdout").status == 404
        assert s.get(f"{task}/attempts/0/stdout", user=None).status in (401, 403)
        denied = f"{P}/dags/DeniedFlow/runs/{s.ids['denied_run']}/steps/start/tasks/0/attempts/0/stdout"
        assert s.get(denied, "bob").status == 403
    finally:
        shutil.rmtree(Path(s.ids["root"], FLOW), ignore_errors=True)
