"""Which store the client reads and which runs it sees: the artifact root and the namespace.

Process-wide state, as in Metaflow's client: ``namespace()`` and ``set_artifact_root()`` apply to
every ``Flow``/``Run``/``Step``/``Task`` made afterwards in this process.
"""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.datastore import encode_run_id, get_backend
from airflow_ml_provider.datastore.backend import StorageBackend
from airflow_ml_provider.datastore.reader import Reader
from airflow_ml_provider.errors import ObjectNotFound

_UNSET = object()
_namespace: Any = _UNSET  # resolved to default_namespace() on first use, as in Metaflow
_backend: StorageBackend | None = None


class MetaflowNamespaceMismatch(ObjectNotFound):
    """A run asked for by id that is not in the current namespace (Metaflow's error, same name)."""

    def __init__(self, namespace: str, pathspec: str) -> None:
        super().__init__(
            f"Object not in namespace '{namespace}': {pathspec} (namespace(None) sees every run, or "
            f"namespace('user:...') the runs of one user)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


def namespace(ns: str | None) -> str | None:
    """Only see runs carrying tag ``ns`` (e.g. ``"user:alice"``); ``namespace(None)`` sees all.

    The default, as in Metaflow, is ``user:<you>`` (``METAFLOW_USER``, else ``USER``/``USERNAME``,
    else the system account): ``Flow.runs()`` lists your runs, and ``Run("Flow/id")`` of someone
    else's run raises :class:`MetaflowNamespaceMismatch`. Airflow runs are tagged with the user who
    triggered them, or the account the task ran as (``airflow dags test`` on a laptop: you).
    """
    global _namespace
    _namespace = ns
    return ns


def default_namespace() -> str:
    """Go back to the default namespace ``user:<you>`` and return it."""
    from airflow_ml_provider.user import get_username

    return namespace(f"user:{get_username()}") or ""


def get_namespace() -> str | None:
    if _namespace is _UNSET:
        default_namespace()
    return _namespace


def check_run_namespace(flow_name: str, run_id: str, pathspec: str) -> None:
    if get_namespace() is None:
        return
    meta = store_reader().run(flow_name, encode_run_id(run_id))
    if meta is not None:  # an unknown run is the caller's KeyError to raise
        check_namespace(meta.get("tags"), pathspec)


def check_namespace(tags: Any, pathspec: str) -> None:
    current = get_namespace()
    if current is not None and current not in (tags or []):
        raise MetaflowNamespaceMismatch(current, pathspec)


def get_metadata() -> str:
    """Where runs are recorded: ``local@<folder>`` or ``s3@s3://bucket/prefix``."""
    backend = store_backend()
    kind = "s3" if backend.root.startswith("s3://") else "local"
    return f"{kind}@{backend.root}"


def set_artifact_root(root: str | None) -> None:
    """Point the client at another artifact root (None: the configured one)."""
    global _backend
    _backend = get_backend(root) if root else None


def store_reader() -> Reader:
    """The store's one reader, uncached: every object reads the store as it is now (a tag added by
    another process, a cleared task that reran), as Metaflow's client does."""
    return Reader(store_backend())


def store_backend() -> StorageBackend:
    global _backend
    if _backend is None:
        _backend = get_backend()
    return _backend
