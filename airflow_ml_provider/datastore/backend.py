"""Storage backends: the byte-level interface the artifact store is written against.

Paths are ``/``-separated keys relative to the backend root. Writes are atomic: a reader sees
either nothing or the whole object (rename on a filesystem, a single PUT on S3), which is what
lets the attempt metadata file act as the "attempt complete" marker.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

_WRITE_CHUNK = 16 * 1024 * 1024
# from this size a local blob is written while it is hashed (LocalBackend.write_hashed)
OVERLAP_MIN_BYTES = 32 * 1024 * 1024


class ObjectInfo(NamedTuple):
    """What a listing knows of one object without reading it."""

    mtime: float  # seconds since the epoch (file mtime, S3 LastModified)
    size: int


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

    def write_hashed(self, data: bytes | memoryview, staging: str, path_of: Callable[[str], str]) -> tuple[str, bool]:
        """Store ``data`` at ``path_of(sha256 hex)`` unless it is there; returns ``(key, written)``.

        ``staging`` is a folder on the same store a backend may write temporary objects to.
        """
        key = hashlib.sha256(data).hexdigest()
        path = path_of(key)
        if self.exists(path):
            return key, False
        self.write(path, data)
        return key, True

    @abstractmethod
    def list_dir(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` (files and sub-folders), sorted."""

    @abstractmethod
    def size(self, path: str) -> int: ...

    @abstractmethod
    def walk(self, prefix: str) -> dict[str, ObjectInfo]:
        """Every object below ``prefix`` (recursively), by path relative to the root.

        Writes in progress (a local ``.tmp-`` file) are not objects yet and are left out.
        """

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove the object (no error when absent). Only writers call it: readers never delete."""

    def delete_many(self, paths: list[str]) -> None:
        """Remove every object of ``paths`` (absent ones are fine); S3 batches 1000 per request."""
        for path in paths:
            self.delete(path)

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

    def write_hashed(self, data: bytes | memoryview, staging: str, path_of: Callable[[str], str]) -> tuple[str, bool]:
        """From ``OVERLAP_MIN_BYTES``, hash and write at once; returns ``(key, written)``.

        Hashing and writing a large blob take the same order of time and both release the GIL, so a
        thread writes the bytes to a temporary file in ``staging`` while this one hashes. When the
        key turns out to be stored already, the writer stops and the temporary file goes (the
        unchanged-input case costs about the hash, as before).
        """
        view = memoryview(data).cast("B")
        if view.nbytes < OVERLAP_MIN_BYTES:
            return super().write_hashed(data, staging, path_of)
        folder = self._path(staging)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        stop = threading.Event()
        failed: list[BaseException] = []

        def write() -> None:
            try:
                offset = 0
                while offset < view.nbytes and not stop.is_set():
                    offset += os.write(fd, view[offset : offset + _WRITE_CHUNK])
            except BaseException as exc:
                failed.append(exc)
            finally:
                os.close(fd)

        writer = threading.Thread(target=write, name="ml-provider-blob-writer", daemon=True)
        writer.start()
        try:
            key = hashlib.sha256(view).hexdigest()
            full = self._path(path_of(key))
            if full.exists():
                stop.set()
            writer.join()
            if stop.is_set():
                return key, False
            if failed:
                raise failed[0]
            full.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, full)
            return key, True
        finally:
            stop.set()
            writer.join()
            Path(tmp).unlink(missing_ok=True)

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def list_dir(self, prefix: str) -> list[str]:
        full = self._path(prefix)
        if not full.is_dir():
            return []
        return sorted(p.name for p in full.iterdir() if not p.name.startswith(".tmp-"))

    def size(self, path: str) -> int:
        return self._path(path).stat().st_size

    def delete(self, path: str) -> None:
        self._path(path).unlink(missing_ok=True)

    def walk(self, prefix: str) -> dict[str, ObjectInfo]:
        found: dict[str, ObjectInfo] = {}
        for dirpath, _dirs, files in os.walk(self._path(prefix)):
            for name in files:
                if name.startswith(".tmp-"):
                    continue  # a write in progress (or a crashed one)
                full = Path(dirpath, name)
                st = full.stat()
                found[full.relative_to(self.root).as_posix()] = ObjectInfo(st.st_mtime, st.st_size)
        return found


def _s3_backend(root: str) -> StorageBackend:
    try:
        from airflow_ml_provider.datastore.s3 import S3Backend
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(f"artifact_root {root!r} needs the S3 backend: {exc}") from exc
    return S3Backend(root)


# URL scheme of an artifact root -> factory; "" is a plain folder path
_BACKENDS: dict[str, Callable[[str], StorageBackend]] = {
    "": LocalBackend,
    "file": lambda root: LocalBackend(root[len("file://") :]),
    "s3": _s3_backend,
}


def register_backend(scheme: str, factory: Callable[[str], StorageBackend]) -> None:
    """Make ``<scheme>://...`` artifact roots use ``factory(root)`` (e.g. a company object store)."""
    if not scheme.isidentifier():
        raise ValueError(f"storage scheme {scheme!r} must be a plain word such as 's3' or 'gs'")
    _BACKENDS[scheme] = factory


def get_backend(root: str | None = None) -> StorageBackend:
    """Backend for ``root`` (default: the configured ``[ml_provider] artifact_root``)."""
    if root is None:
        from airflow_ml_provider.config import artifact_root

        root = artifact_root()
    scheme = root.split("://", 1)[0] if "://" in root else ""
    factory = _BACKENDS.get(scheme)
    if factory is None:
        known = ", ".join(f"{s}://" for s in sorted(_BACKENDS) if s)
        raise ValueError(f"artifact_root {root!r}: unknown scheme {scheme!r}; use a folder or one of {known}")
    return factory(root)
