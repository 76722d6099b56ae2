"""Run small flow files with ``python flow.py ...`` against a private artifact root; read runs back."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_ml_provider.client import Run, get_namespace, namespace, set_artifact_root
from tests.fixtures.airflow_local import airflow_env


class FlowFiles:
    """Flow files of one folder, run against one artifact root."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root

    def write(self, filename: str, source: str) -> Path:
        path = self.folder / filename
        path.write_text(textwrap.dedent(source))
        return path

    def env(self, **extra: str) -> dict[str, str]:
        return airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(self.root), **extra)

    def __call__(self, filename: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(self.folder / filename), *args], env=self.env(**env),
            capture_output=True, text=True, timeout=600, cwd=self.folder,
        )  # fmt: skip

    def ok(self, filename: str, *args: str, **env: str) -> str:
        """Run; the run must succeed; returns its run id."""
        result = self(filename, *args, **env)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        return run_id_of(result)

    @contextmanager
    def store(self) -> Iterator[None]:
        set_artifact_root(str(self.root))
        previous = get_namespace()
        namespace(None)
        try:
            yield
        finally:
            namespace(previous)
            set_artifact_root(None)

    def run(self, flow_name: str, run_id: str) -> Run:
        return Run(f"{flow_name}/{run_id}")


def run_id_of(result: subprocess.CompletedProcess) -> str:
    match = re.search(r"^\[ml-provider\] \w+ run (\S+) -> ", result.stdout, re.M)
    assert match, result.stdout[-3000:]
    return match.group(1)
