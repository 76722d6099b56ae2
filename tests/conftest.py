"""Shared fixtures: a throw-away Airflow home (real SQLite db) and helpers to run flows.

Every test session gets its own AIRFLOW_HOME and artifact root under a temporary folder; the
user's ~/airflow is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.moto"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "dags_examples"
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="ml-provider-tests-"))
_HOME = _SESSION_DIR / "airflow_home"
_DAGS = _SESSION_DIR / "dags"
_ARTIFACTS = _SESSION_DIR / "artifacts"

# Set before anything imports airflow_ml_provider or airflow in this process.
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": str(_ARTIFACTS),
        "AIRFLOW__ML_PROVIDER__EXECUTION_MODE": "local",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)


def airflow_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_airflow(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AIRFLOW, *args], env=env or airflow_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated Airflow metadata database for this test session."""
    _HOME.mkdir(parents=True, exist_ok=True)
    _DAGS.mkdir(parents=True, exist_ok=True)
    result = run_airflow("db", "migrate")
    assert result.returncode == 0, result.stderr[-3000:]
    return _HOME


@pytest.fixture(scope="session")
def dags_folder(airflow_home: Path) -> Path:
    """The session's dags folder, holding a copy of dags_examples/."""
    shutil.copytree(EXAMPLES, _DAGS, dirs_exist_ok=True)
    return _DAGS


@pytest.fixture(scope="session")
def artifact_root() -> Path:
    return _ARTIFACTS


def dags_test(dag_id: str, conf: dict | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``airflow dags test DAG_ID`` (the dags folder must already hold the file)."""
    args = ["dags", "test", dag_id]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    return run_airflow(*args, env=env)


def run_flow_file(path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python flow.py ARGS`` with the test environment (no Airflow import happens)."""
    return subprocess.run(
        [sys.executable, str(path), *args], env=airflow_env(), capture_output=True, text=True,
        timeout=300, cwd=cwd or path.parent,
    )  # fmt: skip
