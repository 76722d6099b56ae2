"""Shared plumbing for the benchmark suite (``benchmarks/run_all.py`` and the ``bench_*`` modules).

A :class:`Workspace` is one temporary folder per suite run: an ``AIRFLOW_HOME`` with a SQLite db
(``airflow db migrate`` once), a dags folder per benchmark, artifact roots, Metaflow's datastore,
the XCom object-storage folder and a ``marks`` file that flow steps append timing events to
(JSON lines: ``{"event", "t" (time.time()), "pid", ...}``), so data movement measured inside the
steps is separated from process start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
VENV_BIN = Path(sys.executable).parent


@dataclass
class Row:
    """One line of the results table: the median of ``values`` and its ratio to a baseline row."""

    bench: str
    variant: str
    metric: str
    values: list[float]
    unit: str = "s"
    baseline: str | None = None  # variant name of the row (same bench+metric) this one is compared to
    note: str = ""
    loads: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


class Workspace:
    def __init__(self, keep: bool = False) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="mlp-bench-", dir=os.environ.get("BENCH_TMP")))
        self.keep = keep
        self.home = self.base / "airflow_home"
        self.home.mkdir()
        self.marks = self.base / "marks.jsonl"
        self._migrated = False

    def close(self) -> None:
        if self.keep:
            print(f"kept {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    def dir(self, name: str, fresh: bool = True) -> Path:
        path = self.base / name
        if fresh and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self, dags: Path | None = None, artifacts: Path | str | None = None, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags or self.base / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="False",
            AIRFLOW__CORE__MAX_MAP_LENGTH="1024",
            AIRFLOW__ML_PROVIDER__EXECUTION_MODE="local",
            AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(artifacts or self.base / "artifacts"),
            METAFLOW_HOME=str(self.base / "metaflow_home"),
            METAFLOW_DATASTORE_SYSROOT_LOCAL=str(self.base / "metaflow_store"),
            METAFLOW_DEFAULT_DATASTORE="local",
            METAFLOW_DEFAULT_METADATA="local",
            USERNAME="bench",
            USER=os.environ.get("USER", "bench"),
            BENCH_MARKS=str(self.marks),
            PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        env.update(extra)
        return env

    def migrate(self) -> None:
        if not self._migrated:
            run_cmd([str(VENV_BIN / "airflow"), "db", "migrate"], self.env(), self.base, self.base / "migrate.log")
            self._migrated = True

    def reset_marks(self) -> None:
        self.marks.unlink(missing_ok=True)

    def read_marks(self) -> dict[str, dict[str, Any]]:
        """Events by name (the last one of each name wins)."""
        events: dict[str, dict[str, Any]] = {}
        if self.marks.exists():
            for line in self.marks.read_text().splitlines():
                if line.strip():
                    doc = json.loads(line)
                    events[doc["event"]] = doc
        return events


class CommandFailed(RuntimeError):
    pass


def run_cmd(argv: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float = 3600) -> float:
    """Run ``argv`` with output to ``log``; returns wall seconds; raises with the log's tail."""
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise CommandFailed(
            f"{' '.join(argv[:5])} failed ({proc.returncode}); tail of {log}:\n{log.read_text()[-3000:]}"
        )
    return wall


def tree_bytes(path: Path) -> int:
    """Bytes of every file below ``path`` (0 when absent)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_flow(path: Path, template: str, flavour: str) -> Path:
    """Write a flow file: ``flavour`` 'mlp' imports this package, 'metaflow' imports Metaflow."""
    imports = {
        "mlp": "from airflow_ml_provider import FlowSpec, Parameter, step  # airflow dag",
        "metaflow": "from metaflow import FlowSpec, Parameter, step",
    }
    path.write_text(template.replace("{IMPORT}", imports[flavour]))
    return path


MARK_HELPER = '''
import json as _json
import os as _os
import time as _time


def mark(event, **fields):
    """Append a timing event (wall clock, comparable across processes) to $BENCH_MARKS."""
    with open(_os.environ["BENCH_MARKS"], "a") as _fh:
        _fh.write(_json.dumps({"event": event, "t": _time.time(), "pid": _os.getpid(), **fields}) + "\\n")
'''


def run_standalone(args: Any, run: Any) -> None:
    """A benchmark module's ``main``: ``run(workspace)`` in a Workspace (kept with ``--keep``), print the table."""
    from benchmarks.run_all import print_table

    ws = Workspace(keep=args.keep)
    try:
        rows = run(ws)
    finally:
        ws.close()
    print(print_table(rows))
