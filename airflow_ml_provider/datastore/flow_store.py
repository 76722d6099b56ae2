"""The artifact store's layout: content-addressed blobs plus per-run and per-attempt metadata.

::

    <root>/<Flow>/data/<k[:2]>/<k>                              blob, k = sha256 of its bytes
    <root>/<Flow>/runs/<run>/run.json                           run metadata
    <root>/<Flow>/runs/<run>/steps/<step>/<task>/<n>.started.json   attempt n began
    <root>/<Flow>/runs/<run>/steps/<step>/<task>/<n>.json           attempt n ended (written last)

Blobs are shared by every run of a flow, so an unchanged input is stored once. A task's metadata
lists every artifact visible in it (inherited ones point at the parent's blob: no bytes copied).
The ``<n>.json`` file is written after all blobs, atomically, so a reader never sees a half
written attempt; readers take the newest attempt whose status is ``success``.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_ml_provider.datastore.backend import StorageBackend, get_backend
from airflow_ml_provider.datastore.ids import check_content_key, check_id
from airflow_ml_provider.datastore.preview import make_preview
from airflow_ml_provider.datastore.serializers import FLOW_MODULE_PREFIX, deserialize, serialize, type_name

SUCCESS = "success"
FAILED = "failed"
RUNNING = "running"


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=1, sort_keys=True, default=str).encode()


class ArtifactLoadError(RuntimeError):
    """An artifact's value cannot be rebuilt in this process (its class is not importable here)."""


class FlowDatastore:
    """All runs of one flow in one artifact root."""

    def __init__(self, flow_name: str, backend: StorageBackend | None = None) -> None:
        self.flow_name = check_id(flow_name, "flow name")
        self.backend = backend or get_backend()

    # -- content-addressed blobs ---------------------------------------------------------
    def blob_path(self, key: str) -> str:
        check_content_key(key)
        return f"{self.flow_name}/data/{key[:2]}/{key}"

    def put_blob(self, data: bytes | memoryview) -> tuple[str, bool]:
        """Store ``data`` under its sha256; returns ``(key, written)`` (False: already stored)."""
        return self.backend.write_hashed(data, f"{self.flow_name}/data", self.blob_path)

    def get_blob(self, key: str) -> bytes | memoryview:
        return self.backend.read(self.blob_path(key))

    def save_artifact(self, name: str, value: Any) -> dict[str, Any]:
        """Serialize, store and describe one artifact value (the record goes in task metadata)."""
        serializer, data = serialize(name, value)
        key, written = self.put_blob(data)
        return {
            "key": key,
            "type": type_name(value),
            "size": len(data) if not isinstance(data, memoryview) else data.nbytes,
            "serializer": serializer,
            "preview": make_preview(value, serializer),
            "written": written,
        }

    def load_artifact(self, record: dict[str, Any]) -> Any:
        try:
            return deserialize(record["serializer"], self.get_blob(record["key"]))
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith(FLOW_MODULE_PREFIX):
                raise
            cls = str(record.get("type") or "object").rsplit(".", 1)[-1]
            raise ArtifactLoadError(
                f"this artifact is a {cls} whose class is defined in the {self.flow_name} flow file, which "
                f"only the flow's own steps import. To load it anywhere else (client, notebook, service), "
                f"define {cls} in a module next to the flow file and import it from there in the flow, "
                "or store plain data (dict, list, DataFrame, ndarray)."
            ) from exc

    # -- runs ----------------------------------------------------------------------------
    def _run_dir(self, run_id: str) -> str:
        return f"{self.flow_name}/runs/{check_id(run_id, 'run id')}"

    def run_ids(self) -> list[str]:
        return self.backend.list_dir(f"{self.flow_name}/runs")

    def read_run(self, run_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(bytes(self.backend.read(f"{self._run_dir(run_id)}/run.json")))
        except FileNotFoundError:
            return None

    def write_run(self, run_id: str, meta: dict[str, Any]) -> None:
        self.backend.write(f"{self._run_dir(run_id)}/run.json", _dumps(meta))

    def update_run(self, run_id: str, **fields: Any) -> dict[str, Any]:
        meta = self.read_run(run_id) or {"flow_name": self.flow_name, "run_id": run_id}
        meta.update(fields)
        self.write_run(run_id, meta)
        return meta

    # -- steps, tasks, attempts ----------------------------------------------------------
    def _task_dir(self, run_id: str, step: str, task_id: str) -> str:
        return f"{self._run_dir(run_id)}/steps/{check_id(step, 'step name')}/{check_id(task_id, 'task id')}"

    def step_names(self, run_id: str) -> list[str]:
        return self.backend.list_dir(f"{self._run_dir(run_id)}/steps")

    def task_ids(self, run_id: str, step: str) -> list[str]:
        return self.backend.list_dir(f"{self._run_dir(run_id)}/steps/{check_id(step, 'step name')}")

    def attempts(self, run_id: str, step: str, task_id: str) -> list[int]:
        """Attempt numbers that have started or ended, ascending."""
        numbers = set()
        for name in self.backend.list_dir(self._task_dir(run_id, step, task_id)):
            head = name.split(".", 1)[0]
            if head.isdigit():
                numbers.add(int(head))
        return sorted(numbers)

    def mark_started(self, run_id: str, step: str, task_id: str, attempt: int, meta: dict[str, Any]) -> None:
        path = f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}.started.json"
        self.backend.write(path, _dumps({**meta, "status": RUNNING}))

    def write_attempt(self, run_id: str, step: str, task_id: str, attempt: int, meta: dict[str, Any]) -> None:
        """Record an ended attempt; the last write of a task (its completion marker)."""
        path = f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}.json"
        self.backend.write(path, _dumps(meta))

    def read_attempt(self, run_id: str, step: str, task_id: str, attempt: int) -> dict[str, Any] | None:
        """Ended attempt's metadata, else its start record, else None."""
        base = f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}"
        for path in (f"{base}.json", f"{base}.started.json"):
            try:
                return json.loads(bytes(self.backend.read(path)))
            except FileNotFoundError:
                continue
        return None

    def latest_attempt(
        self, run_id: str, step: str, task_id: str, *, successful: bool = True
    ) -> dict[str, Any] | None:
        """Newest attempt (newest successful one when ``successful``), or None."""
        for attempt in reversed(self.attempts(run_id, step, task_id)):
            meta = self.read_attempt(run_id, step, task_id, attempt)
            if meta is None:
                continue
            if not successful or meta.get("status") == SUCCESS:
                return meta
        return None


def write_dag_index(backend: StorageBackend, dag_id: str, flow_name: str) -> None:
    """Record which flow a DAG id belongs to (``@flow(dag_id=...)`` may rename it)."""
    path = f"_dags/{check_id(dag_id, 'dag id')}.json"
    doc = _dumps({"dag_id": dag_id, "flow_name": flow_name})
    try:
        if bytes(backend.read(path)) == doc:
            return
    except FileNotFoundError:
        pass
    backend.write(path, doc)


def flow_name_for_dag(backend: StorageBackend, dag_id: str) -> str:
    """The flow name behind ``dag_id`` (the DAG id itself when no index entry exists)."""
    try:
        return json.loads(bytes(backend.read(f"_dags/{check_id(dag_id, 'dag id')}.json")))["flow_name"]
    except FileNotFoundError:
        return dag_id
