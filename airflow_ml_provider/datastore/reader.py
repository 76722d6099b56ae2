"""The one reader of the artifact store: what the client, the UI plugin, the CLI and the service ask of it.

Every question about recorded runs is answered here, once, on the store contract
(:mod:`.records`) and its layout (:mod:`.flow_store`), so the readers cannot disagree again:

* the attempt a task shows: its newest successful attempt, else its newest one (Metaflow's
  "latest successful attempt"); a corrupt record is skipped when looking for a success and
  raised when it is the newest of all (:class:`TaskAttempts`);
* runs of a flow newest first (``created_at``, ties in run-id order), filtered by tags (all of
  them: the client's namespace is one more tag) and by DAG;
* steps in the flow's order (``run.json``'s ``steps``, then any other by name) and task ids in
  :func:`~.ids.task_order` (``2`` before ``10``); names that are not valid ids are not listed;
* a run's meta with its status folded from its events (:func:`.records.fold_run`);
* the flow behind a DAG id (``_dags/<dag_id>.json``, else a scan, else the same name);
* the artifact keys of a run (what the plugin compares).

Caching is the caller's choice (:class:`ReaderCache`). The client uses none: a notebook that adds
a tag, or reads a run while a cleared task reruns, must see the store as it is now, as Metaflow's
client does. The plugin shares one cache across requests: ended attempt files never change, so
they are kept for good; finished ``run.json`` meta and the DAG index can change (a rerun, a tag,
a renamed flow), so they are kept :data:`METADATA_TTL_S` seconds only.

No Airflow import, no client import, no artifact value is ever loaded here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_ml_provider.datastore.backend import StorageBackend
from airflow_ml_provider.datastore.flow_store import FlowDatastore, dag_index_flow
from airflow_ml_provider.datastore.ids import InvalidIdError, check_id
from airflow_ml_provider.datastore.records import RUNNING, SUCCESS, AttemptRecord, CorruptRecordError

__all__ = [
    "CORRUPT", "METADATA_TTL_S", "Reader", "ReaderCache", "TTLCache", "TaskAttempts", "is_id", "newest_attempts",
]  # fmt: skip

log = logging.getLogger(__name__)

CORRUPT = "corrupt"  # status shown for a run whose run.json cannot be read (listings keep it visible)
METADATA_TTL_S = 10.0


def is_id(value: str) -> bool:
    """Whether a listed name can be a flow, run, step or task id (anything else is not listed)."""
    try:
        check_id(value)
    except InvalidIdError:
        return False
    return True


class TTLCache:
    """A small thread-safe LRU map; each entry is kept at most ``ttl`` seconds (None: until evicted)."""

    def __init__(self, size: int, ttl: float | None = None) -> None:
        self.size = size
        self.ttl = ttl
        self._data: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self._lock:
            if key in self._data:
                stored_at, value = self._data[key]
                if self.ttl is not None and time.monotonic() - stored_at > self.ttl:
                    del self._data[key]
                    return None
                self._data.move_to_end(key)
                return value
        return None

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@dataclass
class ReaderCache:
    """What a reader keeps between calls: ended attempts for good, finished runs and DAG index entries ``ttl`` s."""

    ttl: float = METADATA_TTL_S
    attempts: TTLCache = field(init=False)
    runs: TTLCache = field(init=False)
    dag_flows: TTLCache = field(init=False)

    def __post_init__(self) -> None:
        self.attempts = TTLCache(50_000)
        self.runs = TTLCache(20_000, ttl=self.ttl)
        self.dag_flows = TTLCache(2_000, ttl=self.ttl)

    def clear(self) -> None:
        for cache in (self.attempts, self.runs, self.dag_flows):
            cache.clear()


@dataclass
class TaskAttempts:
    """A task's attempt numbers, its newest attempt and its newest successful one.

    ``error`` is set (and ``latest`` None) when the newest attempt's record, ``error_attempt``, is unreadable.
    """

    task_id: str
    numbers: list[int]
    latest: AttemptRecord | None = None
    successful: AttemptRecord | None = None
    error: CorruptRecordError | None = None
    error_attempt: int | None = None

    def current(self) -> AttemptRecord | None:
        """The attempt a task shows: the newest successful one, else the newest (raises if that is corrupt)."""
        if self.successful is not None:
            return self.successful
        if self.error is not None:
            raise self.error
        return self.latest


def newest_attempts(
    store: FlowDatastore,
    run_id: str,
    step: str,
    task_id: str,
    read: Callable[[int], AttemptRecord | None] | None = None,
    *,
    find_success: bool = True,
) -> TaskAttempts:
    """Read a task's attempts newest first, stopping at the first success (the store contract's rule).

    ``read`` reads attempt ``n`` (default: the store, uncached); ``find_success=False`` stops at
    the newest attempt. A corrupt record is skipped with a warning.
    """
    read = read or (lambda n: store.read_attempt(run_id, step, task_id, n))
    found = TaskAttempts(task_id, store.attempts(run_id, step, task_id))
    for n in reversed(found.numbers):
        try:
            meta = read(n)
        except CorruptRecordError as exc:
            if found.latest is None and found.error is None:
                found.error, found.error_attempt = exc, n
                if not find_success:
                    break
            log.warning("%s", exc)
            continue
        if meta is None:
            continue
        if found.latest is None and found.error is None:
            found.latest = meta
            if not find_success:
                break
        if meta.get("status") == SUCCESS:
            found.successful = meta
            break
    return found


class Reader:
    """Read-only view of one artifact root; ``cache`` None (the client's default) reads afresh every time."""

    def __init__(self, backend: StorageBackend, cache: ReaderCache | None = None) -> None:
        self.backend = backend
        self.cache = cache

    def store(self, flow_name: str) -> FlowDatastore:
        """The flow's datastore (raises InvalidIdError for a name that is not an id)."""
        return FlowDatastore(flow_name, self.backend)

    # -- flows ---------------------------------------------------------------------------------
    def flow_names(self) -> list[str]:
        return [n for n in self.backend.list_dir("") if not n.startswith("_") and is_id(n)]

    def flow_for_dag(self, dag_id: str) -> str | None:
        """Flow name behind a DAG id: ``_dags/<dag_id>.json``, else a scan of runs, else a flow of that name."""
        check_id(dag_id, "dag id")
        key = (self.backend.root, dag_id)
        cached = self.cache.dag_flows.get(key) if self.cache else None
        if cached:
            return str(cached)
        flow = dag_index_flow(self.backend, dag_id) or self._flow_from_scan(dag_id)
        if flow is None:
            if dag_id not in self.flow_names():
                return None
            flow = dag_id
        if self.cache:
            self.cache.dag_flows.put(key, flow)
        return flow

    def _flow_from_scan(self, dag_id: str) -> str | None:
        """A renamed flow without an index entry: look at the newest readable run of each flow."""
        for name in self.flow_names():
            for run_id in reversed(self.run_ids(name)):
                try:
                    meta = self.run(name, run_id)
                except (CorruptRecordError, ValueError):
                    break
                if meta is not None:
                    if meta.get("dag_id") == dag_id:
                        return name
                    break
        return None

    # -- runs ----------------------------------------------------------------------------------
    def run_ids(self, flow_name: str) -> list[str]:
        return [r for r in self.store(flow_name).run_ids() if is_id(r)]

    def run(self, flow_name: str, run_id: str) -> dict[str, Any] | None:
        """The run's meta, status and tags folded from its events; None when absent, CorruptRecordError
        when ``run.json`` is unreadable. Carries ``run_id`` and ``flow_name`` whatever the record says."""
        key = (self.backend.root, flow_name, run_id)
        meta = self.cache.runs.get(key) if self.cache else None
        if meta is None:
            meta = self.store(flow_name).read_run(run_id)
            if meta is None:
                return None
            meta = {**meta, "run_id": run_id, "flow_name": flow_name}
            if self.cache and meta.get("status") != RUNNING and meta.get("finished_at"):
                self.cache.runs.put(key, meta)
        return dict(meta)

    def runs(
        self, flow_name: str, tags: Iterable[str] = (), dag_id: str | None = None, *, keep_corrupt: bool = False
    ) -> list[dict[str, Any]]:
        """Runs newest first that carry every tag in ``tags`` (and belong to ``dag_id``, when given).

        An unreadable ``run.json`` never hides the others: it is skipped with a warning, or with
        ``keep_corrupt`` listed as a ``status: corrupt`` entry (with no tags, so a tag filter drops it).
        """
        wanted = set(tags)
        out = []
        for run_id in self.run_ids(flow_name):
            try:
                meta = self.run(flow_name, run_id)
            except CorruptRecordError as exc:
                if not keep_corrupt:
                    log.warning("skipping run %s: %s", run_id, exc)
                    continue
                meta = {"flow_name": flow_name, "run_id": run_id, "status": CORRUPT, "status_reason": str(exc)}
            if meta is None:
                continue
            if dag_id is not None and meta.get("dag_id", flow_name) != dag_id:
                continue
            if not wanted <= set(meta.get("tags") or []):
                continue
            out.append(meta)
        out.sort(key=lambda m: str(m.get("created_at") or ""), reverse=True)  # stable: ties in run-id order
        return out

    # -- steps and tasks -----------------------------------------------------------------------
    def steps(self, flow_name: str, run_id: str, run_meta: dict[str, Any] | None = None) -> list[str]:
        """Step names in the flow's order (``run.json``'s ``steps``), any others after, by name."""
        names = [s for s in self.store(flow_name).step_names(run_id) if is_id(s)]
        if run_meta is None:
            try:
                run_meta = self.run(flow_name, run_id) or {}
            except CorruptRecordError:
                run_meta = {}
        order = {name: i for i, name in enumerate(run_meta.get("steps") or [])}
        return sorted(names, key=lambda s: (order.get(s, len(order)), s))

    def task_ids(self, flow_name: str, run_id: str, step: str) -> list[str]:
        """Task ids in foreach order (:func:`~.ids.task_order`), read from the listing alone."""
        return [t for t in self.store(flow_name).task_ids(run_id, step) if is_id(t)]

    def attempt_numbers(self, flow_name: str, run_id: str, step: str, task_id: str) -> list[int]:
        return self.store(flow_name).attempts(run_id, step, task_id)

    def attempt(self, flow_name: str, run_id: str, step: str, task_id: str, n: int) -> AttemptRecord | None:
        """Attempt ``n``'s record (a started one with liveness folded in); CorruptRecordError when unreadable."""
        key = (self.backend.root, flow_name, run_id, step, task_id, n)
        cached = self.cache.attempts.get(key) if self.cache else None
        if cached is not None:
            return cached
        meta = self.store(flow_name).read_attempt(run_id, step, task_id, n)
        ended = meta is not None and meta.get("status") not in (None, RUNNING) and "liveness" not in meta
        if self.cache and ended:
            self.cache.attempts.put(key, meta)
        return meta

    def task(self, flow_name: str, run_id: str, step: str, task_id: str) -> TaskAttempts:
        """The task's newest and newest successful attempts (only the files down to the success are read)."""

        def read(n: int) -> AttemptRecord | None:
            return self.attempt(flow_name, run_id, step, task_id, n)

        return newest_attempts(self.store(flow_name), run_id, step, task_id, read)

    def artifact_keys(self, flow_name: str, run_id: str) -> dict[tuple[str, str, str], str]:
        """``(step, task, artifact) -> content key`` over the newest successful attempts."""
        out: dict[tuple[str, str, str], str] = {}
        for step in self.steps(flow_name, run_id):
            for task_id in self.task_ids(flow_name, run_id, step):
                meta = self.task(flow_name, run_id, step, task_id).successful or {}
                for name, record in (meta.get("artifacts") or {}).items():
                    if isinstance(record, dict):
                        out[(step, task_id, str(name))] = str(record.get("key"))
        return out
