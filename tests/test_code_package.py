"""Code packages: deterministic, capped, and a run keeps running the code it started with."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_ml_provider.datastore import FlowDatastore, LocalBackend
from airflow_ml_provider.runtime.code_package import (
    CodePackageError,
    build_package,
    fetch_package,
    store_package,
)
from airflow_ml_provider.runtime.command import StepInvocation
from tests.fixtures.airflow_local import airflow_env

FLOW = """
from airflow_ml_provider import FlowSpec, step

class PackFlow(FlowSpec):
    @step
    def start(self):
        self.version = "{version}"
        self.notes = open(__file__.rsplit("/", 1)[0] + "/notes.txt").read()
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def _write(folder, version: str) -> None:
    (folder / "pack_flow.py").write_text(FLOW.format(version=version))


def test_package_is_deterministic_and_skips_caches(tmp_path):
    folder = tmp_path / "flows"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    (folder / "notes.txt").write_text("n")
    (folder / "big.bin").write_bytes(b"0" * (2 * 1024 * 1024))
    _write(folder, "v1")
    first = build_package(str(folder / "pack_flow.py"))
    (folder / "pack_flow.py").touch()  # a new mtime must not change the package
    assert build_package(str(folder / "pack_flow.py")) == first
    store = FlowDatastore("PackFlow", LocalBackend(tmp_path / "store"))
    key = store_package(store, str(folder / "pack_flow.py"))
    extracted = fetch_package(store, key)
    assert sorted(p.name for p in extracted.iterdir()) == ["notes.txt", "pack_flow.py"]
    with pytest.raises(CodePackageError, match=r"over the 0 MB cap.*pack_flow.py"):
        build_package(str(folder / "pack_flow.py"), max_bytes=10)


def test_run_uses_its_packaged_code_after_the_file_changes(tmp_path):
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "notes.txt").write_text("shipped notes")
    _write(folder, "v1")
    root = tmp_path / "store"
    store = FlowDatastore("PackFlow", LocalBackend(root))
    key = store_package(store, str(folder / "pack_flow.py"))
    _write(folder, "v2")  # the dags folder changes after the run started
    (folder / "notes.txt").unlink()
    inv = StepInvocation("pack_flow.py", "PackFlow", "start", "run1", "1", code_package=key)
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root))
    proc = subprocess.run(inv.argv(sys.executable), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = store.latest_attempt("run1", "start", "1")
    assert store.load_artifact(meta["artifacts"]["version"]) == "v1"
    assert store.load_artifact(meta["artifacts"]["notes"]) == "shipped notes"
    assert store.read_run("run1")["code_hash"] == key
