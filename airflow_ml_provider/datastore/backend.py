"""Storage backends: the byte-level interface the artifact store is written against.

Paths are ``/``-separated keys relative to the backend root. Writes are atomic: a reader sees
either nothing or the whole object (rename on a filesystem, a single PUT on S3), which is what
lets the attempt metadata file act as the "attempt complete" marker.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path


class StorageBackend(ABC):
    """Minimal object-store interface (local folder, S3)."""

    root: str

    @abstractmethod
    def read(self, path: str) -> bytes | memoryview:
        """Return the object's bytes; raise FileNotFoundError when absent."""

    @abstractmethod
    def write(self, path: str, data: bytes | memoryview) -> None:
        """Store ``data`` atomically at ``path``, replacing any previous object."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def list_dir(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` (files and sub-folders), sorted."""

    @abstractmethod
    def size(self, path: str) -> int: ...

    def describe(self) -> str:
        return self.root


class LocalBackend(StorageBackend):
    """A folder on a local or shared filesystem; reads are memory-mapped (zero copy)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = str(Path(root).expanduser().absolute())

    def _path(self, path: str) -> Path:
        full = Path(self.root, path)
        # Ids are validated upstream; this is the second fence against escaping the root.
        if not os.path.normpath(full).startswith(os.path.normpath(self.root)):
            raise ValueError(f"path {path!r} escapes the artifact root")
        return full

    def read(self, path: str) -> bytes | memoryview:
        full = self._path(path)
        with open(full, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return b""
            return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))

    def write(self, path: str, data: bytes | memoryview) -> None:
        full = self._path(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def list_dir(self, prefix: str) -> list[str]:
        full = self._path(prefix)
        if not full.is_dir():
            return []
        return sorted(p.name for p in full.iterdir() if not p.name.startswith(".tmp-"))

    def size(self, path: str) -> int:
        return self._path(path).stat().st_size


def get_backend(root: str | None = None) -> StorageBackend:
    """Backend for ``root`` (default: the configured ``[ml_provider] artifact_root``)."""
    if root is None:
        from airflow_ml_provider.config import artifact_root

        root = artifact_root()
    if root.startswith("s3://"):
        try:
            from airflow_ml_provider.datastore.s3 import S3Backend
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(f"artifact_root {root!r} needs the S3 backend: {exc}") from exc
        return S3Backend(root)
    return LocalBackend(root)
