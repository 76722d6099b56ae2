"""Run versions: an immutable snapshot per served run, swapped atomically by a poller thread.

A :class:`Snapshot` bundles everything one run version needs: the run id, its end step's
artifacts (loaded lazily, once) and the spec instance ``setup()`` prepared. The manager keeps a
single reference to the live snapshot and replaces it with one assignment, which is atomic in
CPython; a request reads that reference once and uses only it, so it can never see half of an
old version and half of a new one, and no lock sits on the request path.

A new snapshot goes live only after it is complete (end-step metadata read, every blob present,
``preload`` artifacts loaded, ``setup()`` returned). Anything failing on the way - an unreachable
store, a missing blob, an exception in ``setup`` - is logged, shown on ``/health``, and the last
good version keeps serving. A run that failed to load is retried with exponential backoff rather
than on every poll (loading a model every few seconds would starve the process).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_ml_provider.client import DataArtifact, Flow, Run, get_metadata, namespace
from airflow_ml_provider.datastore import ArtifactIntegrityError
from airflow_ml_provider.service.spec import WebServiceSpec

log = logging.getLogger("airflow_ml_provider.service")

MAX_BACKOFF_S = 600.0


class FlowArtifacts:
    """``self.artifacts.flow.x``: artifact ``x`` of the served run's end step, loaded once."""

    def __init__(self, pathspec: str, artifacts: dict[str, DataArtifact]) -> None:
        self._pathspec = pathspec
        self._artifacts = artifacts
        self._values: dict[str, Any] = {}
        self._locks = {name: threading.Lock() for name in artifacts}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            pass
        if name not in self._artifacts:
            raise AttributeError(
                f"run {self._pathspec} has no artifact {name!r} (it has: {', '.join(sorted(self._artifacts))})"
            )
        with self._locks[name]:  # concurrent first requests load the blob once
            if name not in self._values:
                self._values[name] = self._artifacts[name].data
        return self._values[name]

    def __contains__(self, name: str) -> bool:
        return name in self._artifacts

    def __dir__(self) -> list[str]:
        return sorted(self._artifacts)

    def loaded(self) -> list[str]:
        """Names whose values are in memory (for ``/health``)."""
        return sorted(self._values)

    def __repr__(self) -> str:
        return f"<artifacts of {self._pathspec}: {', '.join(sorted(self._artifacts))}>"


class ServiceArtifacts:
    """What ``self.artifacts`` is inside a service: the served run and its artifacts."""

    def __init__(self, run: Run, flow: FlowArtifacts) -> None:
        self.run = run
        self.run_id: str = run.id
        self.flow = flow

    def __repr__(self) -> str:
        return f"<ServiceArtifacts {self.run.pathspec}>"


@dataclass(frozen=True)
class Snapshot:
    """One live run version; never mutated after it is published."""

    flow_name: str
    run_id: str
    instance: WebServiceSpec
    created_at: str | None
    loaded_at: str
    load_seconds: float


def _blob_problem(artifact: DataArtifact) -> str | None:
    """Why this artifact's blob cannot be served (missing, corrupt), checked before the swap.

    Every blob is checked (xxh3, ~3.5 GB/s here), lazily loaded ones too: a version with a
    rotten blob is never swapped in, so the service keeps serving its last good one.
    """
    store = artifact.task._store  # the client's datastore for this flow (same package)
    try:
        store.check_blob(artifact.sha, artifact.id, artifact.record.get("checksum"))
    except ArtifactIntegrityError as exc:
        return str(exc)
    return None


def build_snapshot(spec_cls: type[WebServiceSpec], run: Run) -> Snapshot:
    """Load ``run`` as a ready-to-serve version; raises on anything that would make it broken."""
    started = time.perf_counter()
    end = run.end_task
    if end is None or not end.successful:
        raise RuntimeError(f"run {run.pathspec} has no successful end step")
    artifacts = end.artifacts
    problems = {name: p for name, art in artifacts.items() if (p := _blob_problem(art))}
    if problems:
        raise RuntimeError(f"run {run.pathspec}: {'; '.join(problems[n] for n in sorted(problems))}")
    flow_artifacts = FlowArtifacts(run.pathspec, artifacts)
    preload = spec_cls.preload
    names = list(artifacts) if preload is True else ([] if preload is False else list(preload))
    for name in names:
        getattr(flow_artifacts, name)
    instance = spec_cls()
    instance.artifacts = ServiceArtifacts(run, flow_artifacts)
    instance.setup()
    return Snapshot(
        flow_name=run.flow_name,
        run_id=run.id,
        instance=instance,
        created_at=run.metadata.get("created_at"),
        loaded_at=datetime.now(timezone.utc).isoformat(),
        load_seconds=round(time.perf_counter() - started, 4),
    )


@dataclass
class _Failure:
    count: int
    retry_at: float
    error: str


@dataclass
class PollState:
    """What the poller last saw, for ``/health``."""

    polls: int = 0
    swaps: int = 0
    last_poll_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    store_ok: bool | None = None
    failed_runs: dict[str, str] = field(default_factory=dict)


class VersionManager:
    """Owns the live snapshot of one service and the thread that refreshes it."""

    def __init__(self, spec_cls: type[WebServiceSpec], poll_interval: float | None = None) -> None:
        namespace(None)  # a service serves whoever ran the flow (choose runs with the spec's tag)
        spec_cls.validate()
        self.spec_cls = spec_cls
        self.flow_name = spec_cls.flow
        self.poll_interval = float(poll_interval or spec_cls.poll_interval)
        self.state = PollState()
        self._current: Snapshot | None = None
        self._failures: dict[str, _Failure] = {}
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_logged: str | None = None

    @property
    def current(self) -> Snapshot | None:
        """The live version; read it once per request and keep the reference."""
        return self._current

    def _select(self) -> Run | None:
        """The run the spec asks for (None: no such successful run yet)."""
        spec = self.spec_cls
        if spec.run_id:
            try:
                run = Run(f"{self.flow_name}/{spec.run_id}")
            except KeyError:
                raise LookupError(f"pinned run {self.flow_name}/{spec.run_id} not found in {get_metadata()}") from None
            if not run.successful:
                raise LookupError(f"pinned run {run.pathspec} has not succeeded (status {run.metadata.get('status')})")
            return run
        try:
            flow = Flow(self.flow_name)
        except KeyError:  # no runs at all (or the local root vanished)
            return None
        runs = flow.runs(spec.tag) if spec.tag else flow.runs()
        return next((r for r in runs if r.successful), None)

    def _error(self, message: str, *, exc_info: bool = False) -> None:
        self.state.last_error = message
        self.state.last_error_at = _now()
        if message != self._last_logged:  # one log line per distinct problem, not one per poll
            log.error("%s%s", message, self._keeping(), exc_info=exc_info)
            self._last_logged = message

    def _keeping(self) -> str:
        cur = self._current
        return f"; still serving {cur.flow_name}/{cur.run_id}" if cur else "; no version loaded yet"

    def refresh(self) -> bool:
        """Look at the store once; swap in a newer version when there is one. True when swapped."""
        with self._refresh_lock:
            self.state.polls += 1
            self.state.last_poll_at = _now()
            if self.spec_cls.run_id and self._current is not None:
                return False  # pinned and loaded: nothing can change
            try:
                run = self._select()
            except Exception as exc:
                self.state.store_ok = False
                self._error(f"cannot read runs of {self.flow_name} from {get_metadata()}: {type(exc).__name__}: {exc}")
                return False
            self.state.store_ok = True
            if run is None:
                what = f"tag {self.spec_cls.tag!r}" if self.spec_cls.tag else "any tag"
                self._error(f"no successful run of {self.flow_name} with {what} in {get_metadata()}")
                return False
            current = self._current
            if current is not None and current.run_id == run.id:
                self.state.last_error = None
                self._last_logged = None
                return False
            failure = self._failures.get(run.id)
            if failure is not None and time.monotonic() < failure.retry_at:
                return False
            try:
                snapshot = build_snapshot(self.spec_cls, run)
            except Exception as exc:
                count = failure.count + 1 if failure else 1
                backoff = min(self.poll_interval * 2**count, MAX_BACKOFF_S)
                message = f"cannot load run {run.pathspec}: {type(exc).__name__}: {exc}"
                self._failures[run.id] = _Failure(count, time.monotonic() + backoff, message)
                self.state.failed_runs[run.id] = message
                self._error(f"{message} (retry in {backoff:.0f}s)", exc_info=True)
                return False
            self._current = snapshot  # the swap: one reference assignment
            self._failures.pop(run.id, None)
            self.state.failed_runs.pop(run.id, None)
            self.state.swaps += 1
            self.state.last_error = None
            self._last_logged = None
            old = f" (was {current.run_id})" if current else ""
            log.info("serving %s/%s%s, loaded in %.3fs", run.flow_name, run.id, old, snapshot.load_seconds)
            return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # never let the poller die: the service would silently freeze
                log.exception("service poller failed")
            self._stop.wait(self.poll_interval)

    def start(self) -> None:
        """Start polling in a daemon thread (first look immediately)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="ml-service-poller", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        """Health document: selection, live version, poller state."""
        cur = self._current
        spec = self.spec_cls
        selection = {"run_id": spec.run_id} if spec.run_id else {"tag": spec.tag} if spec.tag else {"latest": True}
        version = None
        if cur is not None:
            version = {
                "run_id": cur.run_id,
                "created_at": cur.created_at,
                "loaded_at": cur.loaded_at,
                "load_seconds": cur.load_seconds,
                "artifacts_loaded": cur.instance.artifacts.flow.loaded(),
            }
        return {
            "service": spec.__name__,
            "flow": self.flow_name,
            "selection": selection,
            "store": get_metadata(),
            "poll_interval": self.poll_interval,
            "version": version,
            "poller": {
                "polls": self.state.polls,
                "swaps": self.state.swaps,
                "last_poll_at": self.state.last_poll_at,
                "store_ok": self.state.store_ok,
                "last_error": self.state.last_error,
                "last_error_at": self.state.last_error_at,
                "failed_runs": dict(self.state.failed_runs),
            },
        }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
