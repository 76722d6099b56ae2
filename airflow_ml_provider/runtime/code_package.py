"""Code packages: the flow's folder, stored content-addressed when a run starts.

The start task packs the flow file's folder (every ``.py`` file, plus other files up to
``MAX_OTHER_FILE_BYTES`` each, such as IncludeFile defaults; no hidden folders or caches) into a
deterministic tar.gz, so identical code has an identical key and is stored once. Every task of
the run (pod or local subprocess) then fetches that key and runs that exact code, even if the
dags folder changed since: an image rebuild is only needed for new dependencies. A cleared task
reruns its run's code; to run changed code, start a new run (``resume_from`` reuses the work).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from airflow_ml_provider.datastore import FlowDatastore
from airflow_ml_provider.errors import MLProviderError

MAX_PACKAGE_BYTES = 20 * 1024 * 1024
MAX_OTHER_FILE_BYTES = 1024 * 1024
_SKIP_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv"}


class CodePackageError(MLProviderError, RuntimeError):
    """The flow's folder cannot be packaged (too large, unreadable)."""


def package_files(root: Path) -> list[Path]:
    """Files of ``root`` that go into the package, sorted (deterministic)."""
    chosen = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name.startswith(".") or name.endswith((".pyc", ".pyo")) or not path.is_file():
                continue
            if name.endswith(".py") or path.stat().st_size <= MAX_OTHER_FILE_BYTES:
                chosen.append(path)
    return chosen


def build_package(flow_file: str, max_bytes: int = MAX_PACKAGE_BYTES) -> bytes:
    """A reproducible tar.gz of the flow file's folder (same code -> same bytes)."""
    root = Path(flow_file).resolve().parent
    files = package_files(root)
    total = sum(p.stat().st_size for p in files)
    if total > max_bytes:
        largest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:5]
        detail = ", ".join(f"{p.relative_to(root)} ({p.stat().st_size / 1e6:.1f} MB)" for p in largest)
        raise CodePackageError(
            f"the code package of {flow_file} would be {total / 1e6:.1f} MB, over the "
            f"{max_bytes / 1e6:.0f} MB cap. Largest files: {detail}. Keep data out of the flow's folder "
            "(read it from S3 in a step) or move the flow into its own folder."
        )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            info = tarfile.TarInfo(str(path.relative_to(root)))
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    return gzip.compress(raw.getvalue(), mtime=0)


def store_package(store: FlowDatastore, flow_file: str) -> str:
    """Pack and store the flow's folder; returns the package's content key."""
    key, _ = store.put_blob(build_package(flow_file))
    return key


def fetch_package(store: FlowDatastore, key: str) -> Path:
    """Extract package ``key`` once per machine (cached under the temp folder); returns its folder."""
    target = Path(tempfile.gettempdir(), "ml-provider-code", key)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key[:12]}-"))
    try:
        data = gzip.decompress(bytes(store.get_blob(key)))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(staging, filter="data")
        os.replace(staging, target)
    except OSError:
        if not target.is_dir():  # another task may have won the race
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
