"""The plugin's queries: the store's one reader (:mod:`~airflow_ml_provider.datastore.reader`) plus web concerns.

What is read, in which order, and which attempt a task shows is the reader's, shared with the
client and the CLI. Here: every id coming from a URL is validated and turned into
:class:`NotFound`, so a malformed or unknown id is a 404 and can never name a path outside the
store; a corrupt record is shown as such, never a 500; artifacts are marked when their blob is
missing or rotten; Airflow task instances are mapped to store tasks; two runs are compared.
Artifact bytes are never loaded (the one exception, a raw blob download, lives in the routes and
streams bytes without decoding them).

All requests share one :class:`ReaderCache`: ended attempt files never change and are kept for
good (a run with 1000 foreach tasks stays cheap to page through); finished ``run.json`` meta and
the DAG-to-flow mapping are kept ``METADATA_TTL_S`` seconds, so the UI is never more than that
behind the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_ml_provider.datastore import (
    ArtifactIntegrityError,
    CorruptRecordError,
    FlowDatastore,
    StorageBackend,
    encode_run_id,
    get_backend,
)
from airflow_ml_provider.datastore.ids import InvalidIdError, check_content_key, check_id, task_order
from airflow_ml_provider.datastore.reader import CORRUPT, METADATA_TTL_S, Reader, ReaderCache, TTLCache

__all__ = ["CORRUPT", "METADATA_TTL_S", "NotFound", "StoreReader", "TaskSummary", "clear_caches", "compare"]

# Blobs up to this size are hashed when their task page is shown (bit rot shows as "corrupt");
# larger ones are checked for presence and size there, and hashed in full when downloaded.
VERIFY_ON_PAGE_MAX_BYTES = 16 * 1024 * 1024


class NotFound(LookupError):
    """An id that is malformed or names nothing in the store (rendered as HTTP 404)."""


_CACHE = ReaderCache(ttl=METADATA_TTL_S)
_VERIFIED = TTLCache(100_000, ttl=3600.0)  # (root, flow, key) of blobs whose hash matched
_BACKENDS: dict[str, StorageBackend] = {}


def backend_for(root: str) -> StorageBackend:
    """One backend object per configured root (S3 clients are not free to build)."""
    if root not in _BACKENDS:
        _BACKENDS[root] = get_backend(root)
    return _BACKENDS[root]


def clear_caches() -> None:
    """Forget cached metadata (tests, or after an operator edits the store by hand)."""
    _CACHE.clear()
    _VERIFIED.clear()


def valid(value: str, what: str) -> str:
    """``check_id`` that raises :class:`NotFound` (404) instead of a ValueError (500)."""
    try:
        return check_id(value, what)
    except InvalidIdError as exc:
        raise NotFound(str(exc)) from None


def valid_key(value: str) -> str:
    try:
        return check_content_key(value)
    except InvalidIdError as exc:
        raise NotFound(str(exc)) from None


def store_run_id(run_id: str) -> str:
    """The store id for an Airflow run id from a URL (store ids pass through unchanged)."""
    return valid(encode_run_id(run_id) if isinstance(run_id, str) and run_id else "", "run id")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration_s(start: Any, end: Any) -> float | None:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    try:
        return max(0.0, (b - a).total_seconds())
    except TypeError:  # naive vs aware
        return None


def _listed(meta: dict[str, Any], flow_name: str) -> dict[str, Any]:
    """A run as the pages list it: with its DAG (the flow's name when unrecorded) and duration."""
    meta.setdefault("dag_id", flow_name)
    meta["duration_s"] = duration_s(meta.get("created_at"), meta.get("finished_at"))
    return meta


def _corrupt_attempt(n: int | None, exc: Exception) -> dict[str, Any]:
    return {"attempt": n, "status": CORRUPT,
            "exception": {"type": "CorruptRecordError", "message": str(exc), "traceback": ""}}  # fmt: skip


@dataclass
class TaskSummary:
    """What the step table needs for one task: newest attempt plus newest successful one."""

    task_id: str
    attempts: list[int]
    latest: dict[str, Any] | None
    successful: dict[str, Any] | None = field(default=None)

    @property
    def status(self) -> str:
        return str((self.latest or {}).get("status") or "unknown")

    @property
    def shown(self) -> dict[str, Any] | None:
        """The attempt whose artifacts are shown: the newest successful one, else the newest
        (a failed attempt keeps what it had stored when it failed, as the client returns)."""
        return self.successful or self.latest

    def as_json(self) -> dict[str, Any]:
        meta = self.latest or {}
        return {
            "task_id": self.task_id,
            "status": self.status,
            "attempt": meta.get("attempt"),
            "attempts": self.attempts,
            "foreach_stack": meta.get("foreach_stack") or [],
            "started_at": meta.get("started_at"),
            "finished_at": meta.get("finished_at"),
            "duration_s": meta.get("duration_s"),
            "execution": meta.get("execution") or {},
            "airflow": meta.get("airflow") or {},
            "artifact_names": sorted((self.shown or {}).get("artifacts") or {}),
            "new_artifacts": (self.shown or {}).get("new_artifacts") or [],
            "artifacts_attempt": (self.shown or {}).get("attempt"),
        }


class StoreReader:
    """The store's reader for one artifact root, with ids from URLs checked and NotFound for what is absent."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self.reader = Reader(backend, cache=_CACHE)

    # -- flows and the dag_id mapping ---------------------------------------------------
    def flow_names(self) -> list[str]:
        return self.reader.flow_names()

    def flow(self, flow_name: str) -> FlowDatastore:
        return FlowDatastore(valid(flow_name, "flow name"), self.backend)

    def flow_for_dag(self, dag_id: str) -> str:
        """Flow name behind a DAG id (the reader's lookup), else NotFound."""
        flow = self.reader.flow_for_dag(valid(dag_id, "dag id"))
        if flow is None:
            raise NotFound(f"no flow for dag {dag_id!r}")
        return flow

    # -- runs ------------------------------------------------------------------------------
    def run_meta(self, flow_name: str, run_id: str) -> dict[str, Any] | None:
        try:
            return self.reader.run(valid(flow_name, "flow name"), run_id)
        except (InvalidIdError, ValueError):
            return None
        except CorruptRecordError as exc:  # shown as such, never a 500, never hides other runs
            return {"flow_name": flow_name, "run_id": run_id, "status": CORRUPT, "status_reason": str(exc)}

    def runs(self, flow_name: str, dag_id: str | None = None, tag: str | None = None) -> list[dict[str, Any]]:
        """Runs of a flow newest first, optionally only those of one DAG or carrying ``tag``."""
        found = self.reader.runs(valid(flow_name, "flow name"), (tag,) if tag else (), dag_id, keep_corrupt=True)
        return [_listed(meta, flow_name) for meta in found]

    def run(self, dag_id: str, run_id: str) -> tuple[str, str, dict[str, Any]]:
        """``(flow_name, store_run_id, run.json)`` of a run reached through its DAG, else NotFound."""
        flow_name = self.flow_for_dag(dag_id)
        rid = store_run_id(run_id)
        meta = self.run_meta(flow_name, rid)
        if meta is None:
            raise NotFound(f"no run {run_id!r} in dag {dag_id!r}")
        if meta.get("dag_id", flow_name) != dag_id:
            raise NotFound(f"run {run_id!r} does not belong to dag {dag_id!r}")
        meta = {**meta, "run_id": rid, "flow_name": flow_name}
        meta["duration_s"] = duration_s(meta.get("created_at"), meta.get("finished_at"))
        return flow_name, rid, meta

    # -- steps and tasks -------------------------------------------------------------------
    def steps(self, flow_name: str, run_id: str, run_meta: dict[str, Any] | None = None) -> list[str]:
        """Step names in the flow's order (the client's order, the reader's); ``run_meta`` saves a read."""
        return self.reader.steps(valid(flow_name, "flow name"), run_id, run_meta)

    def task_ids(self, flow_name: str, run_id: str, step: str) -> list[str]:
        return self.reader.task_ids(valid(flow_name, "flow name"), run_id, valid(step, "step name"))

    def attempt(self, flow_name: str, run_id: str, step: str, task_id: str, n: int) -> dict[str, Any] | None:
        """Attempt ``n``'s record; a corrupt one is a record with status ``corrupt`` saying why."""
        try:
            meta: Any = self.reader.attempt(flow_name, run_id, step, task_id, n)
        except CorruptRecordError as exc:
            return _corrupt_attempt(n, exc)
        return meta

    def task(self, flow_name: str, run_id: str, step: str, task_id: str) -> TaskSummary:
        """Summary of one task; NotFound when it has no attempt at all."""
        step, task_id = valid(step, "step name"), valid(task_id, "task id")
        found = self.reader.task(valid(flow_name, "flow name"), run_id, step, task_id)
        if not found.numbers:
            raise NotFound(f"no task {step}/{task_id}")
        latest: Any = found.latest if found.error is None else _corrupt_attempt(found.error_attempt, found.error)
        successful: Any = found.successful
        return TaskSummary(task_id, found.numbers, latest, successful)

    def with_integrity(self, flow_name: str, summary: TaskSummary) -> TaskSummary:
        """The summary with each shown artifact marked ``integrity`` when its blob is missing or corrupt."""
        shown = summary.shown
        if not shown or not isinstance(shown.get("artifacts"), dict):
            return summary
        store = self.flow(flow_name)
        marked = {}
        for name, rec in shown["artifacts"].items():
            problem = self._blob_problem(store, rec) if isinstance(rec, dict) else None
            marked[name] = {**rec, "integrity": problem} if problem else rec
        shown = {**shown, "artifacts": marked}
        latest = shown if summary.latest is summary.shown else summary.latest
        return TaskSummary(summary.task_id, summary.attempts, latest, shown if summary.successful else None)

    def _blob_problem(self, store: FlowDatastore, rec: dict[str, Any]) -> str | None:
        key = str(rec.get("key"))
        cache_key = (self.backend.root, store.flow_name, key)
        if _VERIFIED.get(cache_key):
            return None
        try:
            path = store.blob_path(key)
            size = self.backend.size(path)
        except (FileNotFoundError, InvalidIdError):
            return "missing: its blob is not in the store"
        if isinstance(rec.get("size"), int) and size != rec["size"]:
            return f"corrupt: its blob holds {size} bytes, {rec['size']} were written"
        if size <= VERIFY_ON_PAGE_MAX_BYTES:
            try:
                store.check_blob(key, checksum=rec.get("checksum"))
            except ArtifactIntegrityError:
                return "corrupt: its bytes do not match their checksum"
        _VERIFIED.put(cache_key, True)
        return None

    def all_attempts(self, flow_name: str, run_id: str, step: str, task_id: str) -> list[dict[str, Any]]:
        summary = self.task(flow_name, run_id, step, task_id)
        found = (self.attempt(flow_name, run_id, step, task_id, n) for n in summary.attempts)
        return [a for a in found if a is not None]

    def step_page(
        self, flow_name: str, run_id: str, step: str, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[TaskSummary]]:
        """``(total task count, one page of task summaries)``: only the page's files are read."""
        ids = self.task_ids(flow_name, run_id, step)
        page = ids[max(0, offset) : max(0, offset) + max(1, limit)]
        out = []
        for task_id in page:
            try:
                out.append(self.task(flow_name, run_id, step, task_id))
            except NotFound:
                continue
        return len(ids), out

    def task_for_map_index(self, flow_name: str, run_id: str, step: str, map_index: int) -> str:
        """Store task id of an Airflow task instance (``runtime/topology.py``): map index i of a
        top-level foreach is ``<ordinal>-<i>`` (``<i>`` in old runs); nested ones ask the metadata."""
        ids = self.task_ids(flow_name, run_id, step)
        if not ids:
            raise NotFound(f"no tasks in step {step!r}")
        if map_index < 0:
            return next((t for t in ids if "-" not in t), ids[0])
        legacy = str(map_index) in ids  # no mapped task of the current scheme has an id without "-"
        guesses = [str(map_index)] if legacy else [t for t in ids if t.split("-")[1:] == [str(map_index)]]
        for guess in guesses:
            if self._map_index_of(flow_name, run_id, step, guess) in (None, map_index):
                return guess
        for task_id in ids:
            if self._map_index_of(flow_name, run_id, step, task_id) == map_index:
                return task_id
        raise NotFound(f"no task with map index {map_index} in step {step!r}")

    def _map_index_of(self, flow_name: str, run_id: str, step: str, task_id: str) -> int | None:
        try:
            meta = self.task(flow_name, run_id, step, task_id).latest or {}
        except NotFound:
            return None
        value = (meta.get("airflow") or {}).get("map_index")
        return value if isinstance(value, int) else None

    def step_for_airflow_task(self, flow_name: str, run_id: str, airflow_task_id: str) -> str:
        """Step name of an Airflow task id (the step name, possibly inside a task group)."""
        steps = self.steps(flow_name, run_id)
        for candidate in (airflow_task_id, airflow_task_id.rsplit(".", 1)[-1]):
            if candidate in steps:
                return candidate
        raise NotFound(f"no step for task {airflow_task_id!r}")

    # -- comparison ------------------------------------------------------------------------
    def artifact_keys(self, flow_name: str, run_id: str) -> dict[tuple[str, str, str], str]:
        """``(step, task, artifact) -> content key`` over the newest successful attempts."""
        return self.reader.artifact_keys(valid(flow_name, "flow name"), run_id)


def compare(a: dict[tuple[str, str, str], str], b: dict[tuple[str, str, str], str]) -> list[dict[str, Any]]:
    """One row per (step, task, artifact) in either run, with a change verdict."""
    rows = []
    for key in sorted(set(a) | set(b), key=lambda k: (k[0], task_order(k[1]), k[2])):
        ka, kb = a.get(key), b.get(key)
        state = "added" if ka is None else "removed" if kb is None else "same" if ka == kb else "changed"
        rows.append({"step": key[0], "task_id": key[1], "name": key[2], "a": ka, "b": kb, "state": state})
    return rows


def safe_filename(name: str, serializer: str | None) -> str:
    """A Content-Disposition filename that cannot carry quotes, slashes or control bytes."""
    ext = {
        "pandas-dataframe": "arrow",
        "arrow-table": "arrow",
        "pandas-series": "arrow",
        "numpy-npy": "npy",
        "pickle": "pkl",
    }.get(serializer or "", "bin")
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100].strip(".") or "artifact"
    return f"{stem}.{ext}"
