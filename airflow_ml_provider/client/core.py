"""Read past runs from the artifact store, as Metaflow's client does.

``Flow("MyFlow").latest_successful_run.data.model`` works in a notebook with no Airflow database
and no Airflow import: everything comes from the store's metadata, artifacts load on access.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from airflow_ml_provider.client.artifacts import DataArtifact, StoredException, _Data
from airflow_ml_provider.client.lineage import StepLineage, TaskLineage, origin_pathspec
from airflow_ml_provider.client.logs import TaskLogs
from airflow_ml_provider.client.metadata import Metadata, TaskMetadata
from airflow_ml_provider.client.scope import (
    MetaflowNamespaceMismatch,
    check_namespace,
    check_run_namespace,
    default_namespace,
    get_metadata,
    get_namespace,
    namespace,
    set_artifact_root,
    store_reader,
)
from airflow_ml_provider.client.tagging import RunTagging
from airflow_ml_provider.datastore import FAILED, SUCCESS, CorruptRecordError, encode_run_id
from airflow_ml_provider.datastore.records import SYSTEM_TAG_PREFIXES
from airflow_ml_provider.errors import ObjectNotFound

__all__ = [
    "DataArtifact", "Flow", "MetaflowNamespaceMismatch", "Run", "Step", "Task", "default_namespace",
    "get_metadata", "get_namespace", "namespace", "set_artifact_root",
]  # fmt: skip

log = logging.getLogger(__name__)


def _split_pathspec(pathspec: str, parts: int, kind: str) -> list[str]:
    items = pathspec.split("/")
    if len(items) != parts:
        raise ValueError(f"{kind} pathspec must look like {'/'.join(['Flow', 'run', 'step', 'task'][:parts])}")
    return items


class Task(TaskLogs, TaskLineage):
    """One task of a step (its latest successful attempt unless ``attempt`` is given)."""

    def __init__(
        self,
        pathspec: str,
        attempt: int | None = None,
        _meta: dict[str, Any] | None = None,
        _namespace_check: bool = True,
    ) -> None:
        flow, run, step, task = _split_pathspec(pathspec, 4, "Task")
        self._reader = store_reader()
        self._store = self._reader.store(flow)  # blobs, logs and cards of this task
        self.flow_name, self.run_id, self.step_name, self.id = flow, run, step, task
        if _namespace_check:
            check_run_namespace(flow, run, pathspec)
        if _meta is None:
            if attempt is None:  # the newest successful attempt, else the newest (the reader's rule)
                _meta = self._reader.task(flow, run, step, task).current()  # type: ignore[assignment]
            else:
                _meta = self._reader.attempt(flow, run, step, task, attempt)  # type: ignore[assignment]
        if _meta is None:
            raise ObjectNotFound(f"no task {pathspec}")
        self.metadata = TaskMetadata(_meta, self._metadata_entries)

    def _metadata_entries(self) -> list[Metadata]:
        """Metaflow's entries: one ``attempt`` per attempt made, then :attr:`metadata_dict`'s others."""
        started = self.created_at
        at = int(started.timestamp() * 1000) if started else 0
        attempts = self._reader.attempt_numbers(self.flow_name, self.run_id, self.step_name, self.id)
        out = [Metadata("attempt", str(n), at, "attempt", self) for n in attempts]
        out += [Metadata(k, v, at, k, self) for k, v in self.metadata_dict.items() if k != "attempt"]
        return out

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.id}"

    @property
    def artifacts(self) -> dict[str, DataArtifact]:
        return {n: DataArtifact(self, n, r) for n, r in self.metadata.get("artifacts", {}).items()}

    def __getitem__(self, name: str) -> DataArtifact:
        return self.artifacts[name]

    def __contains__(self, name: str) -> bool:
        return name in self.metadata.get("artifacts", {})

    def __iter__(self) -> Iterator[DataArtifact]:
        return iter(self.artifacts.values())

    @property
    def data(self) -> _Data:
        return _Data(self)

    @property
    def successful(self) -> bool:
        return self.metadata.get("status") == SUCCESS

    @property
    def finished(self) -> bool:
        """Ended, or shown failed because its process stopped heartbeating (see ``status_reason``)."""
        return self.metadata.get("status") in (SUCCESS, FAILED)

    @property
    def status(self) -> str:
        """``running``, ``success`` or ``failed``."""
        return str(self.metadata.get("status"))

    @property
    def status_reason(self) -> str | None:
        """Why a started attempt is shown failed without having recorded it (``no heartbeat since ...``)."""
        return self.metadata.get("liveness")

    @property
    def switch(self) -> dict[str, Any] | None:
        """A switch task's decision, ``{"condition", "value", "step"}`` (the case that ran), else None."""
        return self.metadata.get("switch")

    @property
    def attempt(self) -> int:
        return int(self.metadata.get("attempt", 0))

    @property
    def index(self) -> int | None:
        stack = self.metadata.get("foreach_stack") or []
        return stack[-1]["index"] if stack else None

    @property
    def exception(self) -> StoredException | None:
        """The failed attempt's exception as Metaflow's object (``.type``, ``.exception``, ``.stacktrace``)."""
        record = self.metadata.get("exception")
        return StoredException.of(record) if isinstance(record, dict) else None

    @property
    def created_at(self) -> datetime | None:
        value = self.metadata.get("started_at")
        return datetime.fromisoformat(value) if value else None

    def attempts(self) -> list[Task]:
        numbers = self._reader.attempt_numbers(self.flow_name, self.run_id, self.step_name, self.id)
        return [Task(self.pathspec, attempt=n, _namespace_check=False) for n in numbers]

    def __repr__(self) -> str:
        return f"Task('{self.pathspec}')"


class Step(StepLineage):
    """One step of a run; ``tasks()`` in foreach order."""

    def __init__(self, pathspec: str, _namespace_check: bool = True) -> None:
        flow, run, step = _split_pathspec(pathspec, 3, "Step")
        self._reader = store_reader()
        self.flow_name, self.run_id, self.id = flow, run, step
        if _namespace_check:
            check_run_namespace(flow, run, pathspec)
        if not self._reader.task_ids(flow, run, step):
            raise ObjectNotFound(f"no step {pathspec}")

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.id}"

    def task_ids(self) -> list[str]:
        """Task ids in foreach order, without reading any task's record."""
        return self._reader.task_ids(self.flow_name, self.run_id, self.id)  # foreach order (ids.task_order)

    def tasks(self, *tags: str) -> list[Task]:
        """Tasks in foreach order; none unless the run has every tag given (tasks carry the run's tags)."""
        if tags and not set(tags) <= self.tags:
            return []
        return [Task(f"{self.pathspec}/{t}", _namespace_check=False) for t in self.task_ids()]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __getitem__(self, task_id: str) -> Task:
        return Task(f"{self.pathspec}/{task_id}", _namespace_check=False)

    @property
    def task(self) -> Task:
        """The step's first task (the only one outside a foreach)."""
        return self.tasks()[0]

    def __repr__(self) -> str:
        return f"Step('{self.pathspec}')"


class Run(RunTagging):
    """One flow run (= one Airflow DAG run). Accepts store run ids or raw Airflow run ids."""

    def __init__(self, pathspec: str, _meta: dict[str, Any] | None = None, _namespace_check: bool = True) -> None:
        flow, _, run = pathspec.partition("/")
        if not run:
            raise ValueError("Run pathspec must look like Flow/run_id")
        self._reader = store_reader()
        self._store = self._reader.store(flow)  # tag edits (RunTagging)
        self.flow_name, self.id = flow, encode_run_id(run)
        meta = _meta or self._reader.run(flow, self.id)
        if meta is None:
            raise ObjectNotFound(f"no run {flow}/{run}")
        if _meta is None and _namespace_check:
            check_namespace(meta.get("tags"), pathspec)
        self.metadata = meta

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.id}"

    def steps(self, *tags: str) -> list[Step]:
        """Steps that ran, in the flow's order (start first); none unless the run has every tag given."""
        if not set(tags) <= self.tags:
            return []
        names = self._reader.steps(self.flow_name, self.id, self.metadata)  # the flow's order
        return [Step(f"{self.pathspec}/{s}", _namespace_check=False) for s in names]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, step: str) -> Step:
        return Step(f"{self.pathspec}/{step}", _namespace_check=False)

    def __contains__(self, step: str) -> bool:
        return step in self._reader.steps(self.flow_name, self.id, self.metadata)

    @property
    def end_task(self) -> Task | None:
        """The end step's one task (its id depends on the graph: ``runtime/topology.py``), or None."""
        ids = self._store.task_ids(self.id, "end")
        if not ids:
            return None
        try:
            return Task(f"{self.pathspec}/end/{ids[0]}", _namespace_check=False)
        except KeyError:
            return None

    @property
    def data(self) -> _Data | None:
        """The end step's artifacts (None until end ran)."""
        task = self.end_task
        return task.data if task else None

    @property
    def successful(self) -> bool:
        try:
            task = self.end_task
        except CorruptRecordError as exc:  # the end task's record is unreadable: not a success
            log.warning("%s", exc)
            return False
        return bool(task and task.successful)

    @property
    def finished(self) -> bool:
        return self.successful or self.status in (SUCCESS, FAILED)

    @property
    def status(self) -> str:
        """``running``, ``success`` or ``failed`` (a local run whose runner went silent is failed)."""
        return str(self.metadata.get("status"))

    @property
    def status_reason(self) -> str | None:
        """Why the run failed, when known: the failed task, an interruption, ``no heartbeat since ...``."""
        return self.metadata.get("status_reason")

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.metadata.get("tags", []))

    @property
    def system_tags(self) -> frozenset[str]:
        return frozenset(t for t in self.tags if t.startswith(SYSTEM_TAG_PREFIXES))

    @property
    def user_tags(self) -> frozenset[str]:
        return self.tags - self.system_tags

    @property
    def parent(self) -> Flow:
        """The flow this run belongs to."""
        return Flow(self.flow_name)

    @property
    def path_components(self) -> list[str]:
        return [self.flow_name, self.id]

    @property
    def origin_pathspec(self) -> str | None:
        """For a resumed run: ``Flow/<origin run id>``, else None."""
        return origin_pathspec(self.flow_name, self.metadata)

    @property
    def trigger(self) -> Any:
        """What started the run (``@trigger`` / ``@trigger_on_finish`` on Airflow), as Metaflow's
        ``Run.trigger``: ``.event(s)`` and ``.run(s)``; None when no asset event started it."""
        records = self.metadata.get("trigger")
        if not records:
            return None
        from airflow_ml_provider.dsl.triggers import Trigger

        return Trigger(records, lambda pathspec: Run(pathspec, _namespace_check=False))

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.metadata.get("parameters") or {})

    @property
    def created_at(self) -> datetime | None:
        value = self.metadata.get("created_at")
        return datetime.fromisoformat(value) if value else None

    @property
    def finished_at(self) -> datetime | None:
        value = self.metadata.get("finished_at")
        return datetime.fromisoformat(value) if value else None

    def __repr__(self) -> str:
        return f"Run('{self.pathspec}')"


class Flow:
    """All recorded runs of a flow, newest first, filtered by the current namespace."""

    def __init__(self, name: str) -> None:
        self._reader = store_reader()
        self.id = name
        if not self._reader.run_ids(name):
            raise ObjectNotFound(f"no runs of flow {name!r} in {get_metadata()}")

    @property
    def pathspec(self) -> str:
        return self.id

    @property
    def path_components(self) -> list[str]:
        return [self.id]

    @property
    def tags(self) -> frozenset[str]:
        """Empty: tags belong to runs (Metaflow's flows carry none either)."""
        return frozenset()

    def runs(self, *tags: str) -> list[Run]:
        """Runs newest first carrying every tag given and the namespace's (an unreadable run is skipped)."""
        current = get_namespace()
        wanted = (*tags, current) if current is not None else tags
        return [Run(f"{self.id}/{m['run_id']}", _meta=m) for m in self._reader.runs(self.id, wanted)]

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str) -> Run:
        return Run(f"{self.id}/{run_id}")

    @property
    def latest_run(self) -> Run | None:
        runs = self.runs()
        return runs[0] if runs else None

    @property
    def latest_successful_run(self) -> Run | None:
        return next((r for r in self.runs() if r.successful), None)

    def __repr__(self) -> str:
        return f"Flow('{self.id}')"
