"""The artifact store's layout: content-addressed blobs plus per-run and per-attempt metadata.

::

    <root>/<Flow>/data/<k[:2]>/<k>                                   blob, k = sha256 of its bytes
    <root>/<Flow>/runs/<run>/run.json                                run record (written once)
    <root>/<Flow>/runs/<run>/events/<stamp>-<kind>-<rand>.json       run events (each written once)
    <root>/<Flow>/runs/<run>/heartbeat.json                          local runner's heartbeat
    <root>/<Flow>/runs/<run>/steps/<step>/<task>/<n>.started.json    attempt n began
    <root>/<Flow>/runs/<run>/steps/<step>/<task>/<n>.heartbeat.json  attempt n is alive
    <root>/<Flow>/runs/<run>/steps/<step>/<task>/<n>.json            attempt n ended (written last)
    <root>/<Flow>/runs/<run>/steps/<step>/<task>/<n>.stdout.log      attempt n's stdout (and .stderr.log)

Blobs are shared by every run of a flow, so an unchanged input is stored once. A task's metadata
lists every artifact visible in it (inherited ones point at the parent's blob: no bytes copied).
The ``<n>.json`` file is written after all blobs, atomically, so a reader never sees a half
written attempt; readers take the newest attempt whose status is ``success``. What may be written
when, and how readers fold it, is the store contract in ``records.py``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from airflow_ml_provider.datastore.backend import StorageBackend, get_backend
from airflow_ml_provider.datastore.ids import check_content_key, check_id, task_order
from airflow_ml_provider.datastore.preview import make_preview
from airflow_ml_provider.datastore.records import (
    FAILED,
    FORMAT_VERSION,
    RUNNING,
    SUCCESS,
    ArtifactIntegrityError,
    ArtifactLoadError,
    AttemptRecord,
    CorruptRecordError,
    Heartbeat,
    RunEvent,
    RunRecord,
    attempt_liveness,
    checksum_matches,
    checksum_of,
    dumps,
    event_name,
    fold_run,
    loads,
    new_event,
    now_iso,
    writer_id,
)
from airflow_ml_provider.datastore.serializers import FLOW_MODULE_PREFIX, deserialize, serialize, type_name
from airflow_ml_provider.datastore.task_logs import check_stream

__all__ = ["FAILED", "RUNNING", "SUCCESS", "ArtifactIntegrityError", "ArtifactLoadError", "FlowDatastore"]

log = logging.getLogger(__name__)
_dumps = dumps
DAG_INDEX_DIR = "_dags"  # <dag_id>.json -> {"dag_id", "flow_name"}: @flow(dag_id=...) may rename a flow


class FlowDatastore:
    """All runs of one flow in one artifact root."""

    def __init__(self, flow_name: str, backend: StorageBackend | None = None) -> None:
        self.flow_name = check_id(flow_name, "flow name")
        self.backend = backend or get_backend()
        self._verified: set[str] = set()  # blob keys whose bytes this process has checked

    def where(self, path: str) -> str:
        """A path as a user can find it: the artifact root joined with the key."""
        return f"{self.backend.describe().rstrip('/')}/{path}"

    def _read_json(self, path: str, kind: type = dict) -> Any:
        """A metadata document; FileNotFoundError when absent, CorruptRecordError when unreadable."""
        return loads(self.backend.read(path), self.where(path), kind)

    # -- content-addressed blobs ---------------------------------------------------------
    def blob_path(self, key: str) -> str:
        check_content_key(key)
        return f"{self.flow_name}/data/{key[:2]}/{key}"

    def put_blob(self, data: bytes | memoryview) -> tuple[str, bool]:
        """Store ``data`` under its sha256; returns ``(key, written)`` (False: already stored)."""
        key, written = self.backend.write_hashed(data, f"{self.flow_name}/data", self.blob_path)
        self._verified.add(key)
        return key, written

    def get_blob(self, key: str, artifact: str | None = None, checksum: str | None = None) -> bytes | memoryview:
        """The blob's bytes, checked: never a wrong value.

        With the artifact record's ``checksum`` (xxh3-128, far faster than sha256) the
        bytes are checked against it, else against the key (sha256). Raises
        :class:`ArtifactIntegrityError` naming the flow, the key and ``artifact`` when the blob is
        missing or does not match (bit rot, a truncated copy, a hand edit).
        """
        try:
            data = self.backend.read(self.blob_path(key))
        except FileNotFoundError:
            raise ArtifactIntegrityError(self._blob_problem(key, artifact, "is missing")) from None
        if key not in self._verified:
            fast = checksum_matches(data, checksum) if checksum else None
            if fast is None:  # no checksum in the record (format 1, code packages): the key itself
                fast = hashlib.sha256(data).hexdigest() == key
            if not fast:
                raise ArtifactIntegrityError(
                    self._blob_problem(key, artifact, "is corrupt: its bytes do not match their checksum")
                )
            self._verified.add(key)
        return data

    def _blob_problem(self, key: str, artifact: str | None, what: str) -> str:
        name = f"artifact {artifact!r}" if artifact else "a blob"
        return f"{name} of flow {self.flow_name}: blob {key} {what} ({self.where(self.blob_path(key))})"

    def check_blob(self, key: str, artifact: str | None = None, checksum: str | None = None) -> None:
        """Raise :class:`ArtifactIntegrityError` unless the blob is present and intact."""
        self.get_blob(key, artifact, checksum)

    def discard_corrupt_blob(self, key: str, checksum: str | None = None) -> bool:
        """Delete the blob if it is (still) corrupt, so the next write of these bytes stores them again.

        Blobs are written once per key, so a rotten one would otherwise stay rotten even after the
        step that made it reruns. Called by writers (resume) only; returns whether it deleted.
        """
        self._verified.discard(key)
        try:
            self.check_blob(key, checksum=checksum)
        except ArtifactIntegrityError:
            path = self.blob_path(key)
            if self.backend.exists(path):
                log.warning("deleting corrupt blob %s so that it is stored again", self.where(path))
                self.backend.delete(path)
                return True
        return False

    def save_artifact(self, name: str, value: Any) -> dict[str, Any]:
        """Serialize, store and describe one artifact value (the record goes in task metadata)."""
        serializer, data = serialize(name, value)
        key, written = self.put_blob(data)
        return {
            "key": key,
            "checksum": checksum_of(data),
            "type": type_name(value),
            "size": len(data) if not isinstance(data, memoryview) else data.nbytes,
            "serializer": serializer,
            "preview": make_preview(value, serializer, name),  # a secret-named artifact shows ***
            "written": written,
        }

    def load_artifact(self, record: dict[str, Any], name: str | None = None) -> Any:
        """The value of an artifact record; ``name`` only makes errors name the artifact."""
        try:
            return deserialize(record["serializer"], self.get_blob(record["key"], name, record.get("checksum")))
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

    def read_run_record(self, run_id: str) -> RunRecord | None:
        """``run.json`` as written (no status folding); None when the run does not exist."""
        try:
            return self._read_json(f"{self._run_dir(run_id)}/run.json")
        except FileNotFoundError:
            return None

    def read_run(self, run_id: str, until: str | None = None) -> dict[str, Any] | None:
        """The run as readers see it: its record with status, tags and liveness folded in.

        ``until`` (an event's ``at``) folds only the events up to it: the run as it was right after
        that edit, whatever other writers did since (what ``Run.add_tag`` shows its caller).
        Raises :class:`CorruptRecordError` naming the file when ``run.json`` is unreadable; a
        corrupt event is skipped with a warning (one bad tag edit must not hide the run).
        """
        record = self.read_run_record(run_id)
        if record is None:
            return None
        heartbeat = None
        events = self.run_events(run_id)
        if until is not None:
            events = [e for e in events if str(e.get("at") or "") <= until]
        if record.get("driver") == "local-runner" and not any(e.get("kind") == "ended" for e in events):
            heartbeat = self._read_heartbeat(f"{self._run_dir(run_id)}/heartbeat.json")
        return fold_run(record, events, heartbeat)

    def create_run(self, run_id: str, record: RunRecord) -> bool:
        """Write ``run.json`` once; returns False (and writes nothing) when the run exists."""
        path = f"{self._run_dir(run_id)}/run.json"
        if self.backend.exists(path):
            return False
        self.backend.write(path, _dumps({**record, "format_version": FORMAT_VERSION}))
        return True

    def run_events(self, run_id: str) -> list[RunEvent]:
        folder = f"{self._run_dir(run_id)}/events"
        events = []
        for name in self.backend.list_dir(folder):
            try:
                events.append(self._read_json(f"{folder}/{name}"))
            except FileNotFoundError:
                continue
            except CorruptRecordError as exc:
                log.warning("skipping a run event: %s", exc)
        return events

    def add_run_event(self, run_id: str, event: RunEvent) -> str:
        """Record one fact about a run in an object of its own (never overwrites another); returns its ``at``."""
        name = event_name(str(event.get("kind")), str(event.get("at")))
        self.backend.write(f"{self._run_dir(run_id)}/events/{name}", _dumps(event))
        return str(event.get("at"))

    def end_run(self, run_id: str, status: str, reason: str | None = None) -> None:
        """The run ended (``success`` or ``failed``): the newest such event decides its status."""
        if status not in (SUCCESS, FAILED):
            raise ValueError(f"a run ends as {SUCCESS!r} or {FAILED!r}, not {status!r}")
        self.add_run_event(run_id, new_event("ended", status=status, **({"reason": reason} if reason else {})))

    def tag_run(self, run_id: str, tag: str, *, remove: bool = False) -> str:
        """Add (or remove) a user tag; returns the edit's ``at`` (see ``read_run(until=)``)."""
        return self.add_run_event(run_id, new_event("untag" if remove else "tag", tag=tag))

    def heartbeat_run(self, run_id: str) -> None:
        """The local runner is alive (its one object, rewritten: it has no other writer)."""
        self.backend.write(f"{self._run_dir(run_id)}/heartbeat.json", _dumps(_beat()))

    def _read_heartbeat(self, path: str) -> Heartbeat | None:
        try:
            return self._read_json(path)
        except (FileNotFoundError, CorruptRecordError):  # a torn heartbeat is no heartbeat
            return None

    # -- steps, tasks, attempts ----------------------------------------------------------
    def _task_dir(self, run_id: str, step: str, task_id: str) -> str:
        return f"{self._run_dir(run_id)}/steps/{check_id(step, 'step name')}/{check_id(task_id, 'task id')}"

    def step_names(self, run_id: str) -> list[str]:
        return self.backend.list_dir(f"{self._run_dir(run_id)}/steps")

    def task_ids(self, run_id: str, step: str) -> list[str]:
        """Task ids of a step in foreach order (:func:`task_order`)."""
        names = self.backend.list_dir(f"{self._run_dir(run_id)}/steps/{check_id(step, 'step name')}")
        return sorted(names, key=task_order)

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
        self.backend.write(path, _dumps({**meta, "status": RUNNING, "format_version": FORMAT_VERSION}))

    def heartbeat_attempt(self, run_id: str, step: str, task_id: str, attempt: int) -> None:
        path = f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}.heartbeat.json"
        self.backend.write(path, _dumps(_beat()))

    def attempt_ended(self, run_id: str, step: str, task_id: str, attempt: int) -> bool:
        return self.backend.exists(f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}.json")

    def write_attempt(self, run_id: str, step: str, task_id: str, attempt: int, meta: dict[str, Any]) -> None:
        """Record an ended attempt; the last write of a task (its completion marker)."""
        path = f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}.json"
        meta = {k: v for k, v in meta.items() if k != "liveness"}
        self.backend.write(path, _dumps({**meta, "format_version": FORMAT_VERSION}))

    def read_attempt(self, run_id: str, step: str, task_id: str, attempt: int) -> AttemptRecord | None:
        """Ended attempt's metadata, else its start record (with liveness folded in), else None.

        Raises :class:`CorruptRecordError` naming the file when the record is unreadable.
        """
        base = f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}"
        try:
            return self._read_json(f"{base}.json")
        except FileNotFoundError:
            pass
        try:
            started = self._read_json(f"{base}.started.json")
        except FileNotFoundError:
            return None
        return attempt_liveness(started, self._read_heartbeat(f"{base}.heartbeat.json"))

    def log_path(self, run_id: str, step: str, task_id: str, attempt: int, stream: str) -> str:
        """``<n>.stdout.log`` / ``<n>.stderr.log`` of an attempt (the shape is ``task_logs.py``'s)."""
        return f"{self._task_dir(run_id, step, task_id)}/{int(attempt)}.{check_stream(stream)}.log"

    def write_log(self, run_id: str, step: str, task_id: str, attempt: int, stream: str, data: bytes) -> None:
        """Replace the attempt's log of ``stream``: its one writer is the attempt's own process."""
        self.backend.write(self.log_path(run_id, step, task_id, attempt, stream), data)

    def read_log(self, run_id: str, step: str, task_id: str, attempt: int, stream: str) -> bytes:
        """The stored log (``b""`` when the attempt wrote nothing to ``stream`` or has not flushed yet)."""
        try:
            return bytes(self.backend.read(self.log_path(run_id, step, task_id, attempt, stream)))
        except FileNotFoundError:
            return b""

    def latest_attempt(self, run_id: str, step: str, task_id: str, *, successful: bool = True) -> AttemptRecord | None:
        """Newest attempt (newest successful one when ``successful``), or None.

        The rule is the reader's (:func:`.reader.newest_attempts`): a corrupt record is skipped with
        a warning when looking for a successful one; as the newest attempt of all it raises.
        """
        from airflow_ml_provider.datastore.reader import newest_attempts  # the reader builds on this module

        found = newest_attempts(self, run_id, step, task_id, find_success=successful)
        if successful:
            return found.successful
        if found.error is not None:
            raise found.error
        return found.latest


def _beat() -> Heartbeat:
    return {"at": now_iso(), "by": writer_id()}


def write_dag_index(backend: StorageBackend, dag_id: str, flow_name: str) -> None:
    """Record which flow a DAG id belongs to (``@flow(dag_id=...)`` may rename it)."""
    path = f"{DAG_INDEX_DIR}/{check_id(dag_id, 'dag id')}.json"
    doc = _dumps({"dag_id": dag_id, "flow_name": flow_name})
    try:
        if bytes(backend.read(path)) == doc:
            return
    except FileNotFoundError:
        pass
    backend.write(path, doc)


def dag_index_flow(backend: StorageBackend, dag_id: str) -> str | None:
    """The flow name ``_dags/<dag_id>.json`` records; None when there is no usable entry."""
    try:
        path = f"{DAG_INDEX_DIR}/{check_id(dag_id, 'dag id')}.json"
        doc = loads(backend.read(path), path)
        return check_id(doc["flow_name"], "flow name")
    except (FileNotFoundError, CorruptRecordError, ValueError, KeyError, TypeError):
        return None
