"""``[ml_provider] max_local_workers`` bounds how many tasks ``python flow.py run`` runs at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fixtures.airflow_local import airflow_env

FLOW = """
import json, os, time
from airflow_ml_provider import FlowSpec, step

class WorkersFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(4))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        begin = time.time()
        time.sleep(0.5)
        with open(os.path.join(os.environ["ML_TEST_SPANS"], f"{self.input}.json"), "w") as fh:
            json.dump([begin, time.time()], fh)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    WorkersFlow()
"""


def _max_overlap(spans: list[list[float]]) -> int:
    points = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    best = now = 0
    for _, step in points:
        now += step
        best = max(best, now)
    return best


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "workers_flow.py").write_text(textwrap.dedent(FLOW))
    spans = tmp_path / "spans"
    spans.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, str(tmp_path / "workers_flow.py"), "run"], cwd=tmp_path, text=True,
                          capture_output=True, timeout=300,
                          env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(tmp_path / "store"),
                                          ML_TEST_SPANS=str(spans), **env))  # fmt: skip


def test_max_local_workers_one_runs_tasks_one_at_a_time(tmp_path: Path) -> None:
    result = _run(tmp_path, AIRFLOW__ML_PROVIDER__MAX_LOCAL_WORKERS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    spans = [json.loads(p.read_text()) for p in (tmp_path / "spans").iterdir()]
    assert len(spans) == 4 and _max_overlap(spans) == 1


def test_a_bad_max_local_workers_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run(tmp_path, AIRFLOW__ML_PROVIDER__MAX_LOCAL_WORKERS="zero")
    assert result.returncode != 0
    assert "max_local_workers must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr
