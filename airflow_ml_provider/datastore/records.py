"""The store contract: the records every writer and reader of the artifact store agrees on.

One module owns the shape of what is written (run, attempt, artifact, foreach and run-event
records), the status values and the format version; ``FORMAT.md`` documents these types and a
test checks that it names every field declared here.

Rules that make the records trustworthy without locks (S3 has none):

* **Write once.** ``run.json`` is written once, when the run starts. An attempt's ``<n>.json``
  is written once, when it ends. Later facts about a run (it ended; a tag was added or removed)
  are separate *run events*, each its own object with a unique name, written by the one process
  that knows the fact. Nothing is read, modified and written back, so concurrent writers cannot
  lose each other's facts.
* **Fold on read.** A run's status and tags are folded from ``run.json`` and its events
  (:func:`fold_run`): the newest ``ended`` event decides the status, tag events apply in order.
* **Liveness is visible.** A running attempt rewrites its own heartbeat object; a local runner
  rewrites the run's. A reader that finds a heartbeat older than ``[ml_provider]
  heartbeat_timeout`` shows the attempt (or run) as ``failed`` with the reason
  ``no heartbeat since <time>`` (:func:`attempt_liveness`, :func:`fold_run`). Each heartbeat
  object has one writer, so rewriting it is not a read-modify-write.
* **Bytes are checked.** A blob's key is the sha256 of its bytes; every read checks it and raises
  :class:`ArtifactIntegrityError` on a mismatch or a missing blob.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

from airflow_ml_provider.errors import MLProviderError

FORMAT_VERSION = 2

RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
STATUSES = (RUNNING, SUCCESS, FAILED)

DEFAULT_HEARTBEAT_INTERVAL_S = 15.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 120.0


class StoreError(MLProviderError, RuntimeError):
    """Base of the artifact store's errors: the message names what is wrong and where."""


class CorruptRecordError(StoreError):
    """A metadata file that is not valid JSON of the expected shape (truncated, edited by hand)."""


class ArtifactLoadError(StoreError):
    """An artifact's value cannot be rebuilt in this process."""


class ArtifactIntegrityError(ArtifactLoadError):
    """A blob whose bytes do not hash to its key, or that is missing: never a wrong value."""


# -- record shapes -----------------------------------------------------------------------------
class ArtifactRecord(TypedDict, total=False):
    key: str  # sha256 hex of the stored bytes
    checksum: str  # "xxh3_128:<hex>": what readers check the bytes against (fast); absent before v2
    type: str  # qualified type name of the value
    size: int  # stored bytes
    serializer: str  # pandas-dataframe | arrow-table | pandas-series | numpy-npy | pickle
    preview: dict[str, Any]  # bounded, computed at write time (the UI never loads values)


SYSTEM_TAG_PREFIXES = ("user:", "run_type:", "runtime:", "dag:", "project:", "project_branch:")
"""Tags the package sets to describe a run; the others are the user's (``--tag``, ``add_tag``)."""


class CardRecord(TypedDict, total=False):
    """One card of one attempt (``cards/<n>.<hash>.json``); its HTML is a blob."""

    type: str  # card type: "default", "blank", or a registered custom type
    id: str | None  # the user's card id (``@card(id=...)``), None without one
    hash: str  # stable per card slot (attempt, type, id, index): refreshes rewrite the same record
    attempt: int
    index: int  # position among the attempt's cards, in decorator order
    updated_at: str  # ISO time of this version of the card
    final: bool  # False while the step runs (``current.card.refresh()``), True once it ended
    blob: str  # sha256 key of the card's HTML bytes
    checksum: str  # "xxh3_128:<hex>" of those bytes
    size: int  # bytes of HTML


class ForeachRecord(TypedDict, total=False):
    var: str
    num_splits: int
    task_ids: list[str]
    values: list[str]  # reprs, cut


class ForeachFrame(TypedDict, total=False):
    step: str
    var: str
    index: int
    num_splits: int
    task_id: str
    record: dict[str, str]  # key + serializer of the foreach list
    value: str | None


class SwitchRecord(TypedDict):
    """What a switch step chose (``self.next({...}, condition=...)``, runtime/switch.py)."""

    condition: str
    value: Any  # the condition's value (its repr when not JSON)
    step: str  # the case that ran


class TriggerEvent(TypedDict, total=False):
    """One Airflow asset event that started the run (dsl/triggers.py)."""

    type: Literal["run", "event"]  # run: a flow's finish asset
    name: str  # the event's asset name, or the finished flow's name
    id: str
    timestamp: str | None
    payload: dict[str, Any]  # the asset event's extra
    run: str | None  # the finished run's pathspec (type run)
    asset_uri: str


class RunRecord(TypedDict, total=False):
    format_version: int
    flow_name: str
    run_id: str
    airflow_run_id: str | None
    dag_id: str | None
    run_type: str  # manual | scheduled | backfill | local | ...
    parameters: dict[str, Any]
    code_package: str | None
    code_hash: str
    flow_file: str
    created_at: str
    username: str | None
    tags: list[str]  # the tags the run started with (system tags + --tag)
    logical_date: str | None
    origin_run_id: str | None
    resume_step: str | None
    steps: list[str]
    trigger: list[TriggerEvent] | None  # asset events that started the run (Airflow)
    driver: Literal["local-runner", "airflow"]  # who heartbeats the run (local runner only)
    # format 1 only (rewritten in place; format 2 derives them from events):
    status: str
    finished_at: str | None


class AttemptRecord(TypedDict, total=False):
    format_version: int
    flow_name: str
    run_id: str
    step: str
    task_id: str
    attempt: int
    status: str
    started_at: str
    finished_at: str | None
    duration_s: float
    peak_rss_mb: float | None
    parents: list[str]
    foreach_stack: list[ForeachFrame]
    foreach: ForeachRecord
    switch: SwitchRecord
    artifacts: dict[str, ArtifactRecord]
    new_artifacts: list[str]
    execution: dict[str, Any]
    airflow: dict[str, Any]
    decorators: dict[str, Any]
    exception: dict[str, Any]
    final: bool
    cloned_from: str
    # set by readers, never written: why a started attempt is shown as failed
    liveness: str


class RunEvent(TypedDict, total=False):
    kind: Literal["ended", "tag", "untag"]
    at: str
    by: str  # host:pid of the writer
    status: str  # ended: success | failed
    reason: str  # ended: why (failed runs)
    tag: str  # tag / untag


class Heartbeat(TypedDict):
    at: str
    by: str


# -- time and identity -------------------------------------------------------------------------
def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def writer_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def event_name(kind: str, at: str) -> str:
    """Unique, time-ordered object name of a run event (listing order is write order)."""
    stamp = (parse_time(at) or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{kind}-{secrets.token_hex(4)}.json"


def new_event(kind: Literal["ended", "tag", "untag"], **fields: Any) -> RunEvent:
    event: RunEvent = {"kind": kind, "at": now_iso(), "by": writer_id()}
    event.update(fields)  # type: ignore[typeddict-item]
    return event


# -- encoding ----------------------------------------------------------------------------------
def dumps(doc: Any) -> bytes:
    return json.dumps(doc, indent=1, sort_keys=True, default=str).encode()


def loads(data: bytes | memoryview, where: str, kind: type = dict) -> Any:
    """Parse a metadata file; anything but a JSON ``kind`` is a :class:`CorruptRecordError`."""
    try:
        doc = json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"{where}: corrupt metadata, not valid JSON ({exc})") from None
    if not isinstance(doc, kind):
        raise CorruptRecordError(f"{where}: corrupt metadata, expected a JSON {kind.__name__}")
    return doc


# -- checksums ---------------------------------------------------------------------------------
def checksum_of(data: bytes | memoryview) -> str:
    """The fast checksum readers verify blobs with (xxh3-128: several times sha256's speed; the
    cost is measured by ``benchmarks/integrity_cost.py``).

    It detects rot, truncation and accidental edits as surely as sha256 does in practice; it is
    not a defence against someone who can write the store, who could rewrite the records too.
    """
    import xxhash

    return f"xxh3_128:{xxhash.xxh3_128_hexdigest(data)}"


def checksum_matches(data: bytes | memoryview, checksum: str) -> bool | None:
    """Whether ``data`` matches ``checksum``; None for an algorithm this version does not know."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm != "xxh3_128":
        return None
    import xxhash

    return xxhash.xxh3_128_hexdigest(data) == digest


# -- liveness ----------------------------------------------------------------------------------
def heartbeat_interval() -> float:
    return _seconds("heartbeat_interval", DEFAULT_HEARTBEAT_INTERVAL_S)


def heartbeat_timeout() -> float:
    return _seconds("heartbeat_timeout", DEFAULT_HEARTBEAT_TIMEOUT_S)


def _seconds(option: str, default: float) -> float:
    from airflow_ml_provider.config import get_option

    raw = get_option(option).strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"[ml_provider] {option} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"[ml_provider] {option} must be positive, not {raw!r}")
    return value


def is_stale(last_seen: str | None, now: datetime | None = None, timeout: float | None = None) -> bool:
    seen = parse_time(last_seen)
    if seen is None:
        return False
    now = now or datetime.now(timezone.utc)
    return (now - seen).total_seconds() > (heartbeat_timeout() if timeout is None else timeout)


def no_heartbeat_reason(last_seen: str) -> str:
    return f"no heartbeat since {last_seen}"


def attempt_liveness(record: AttemptRecord, heartbeat: Heartbeat | None) -> AttemptRecord:
    """A started attempt whose writer went silent is shown failed, with the reason (not stored)."""
    if record.get("status") != RUNNING:
        return record
    last = (heartbeat.get("at") if heartbeat else None) or record.get("started_at")
    if not is_stale(last):
        return record
    reason = no_heartbeat_reason(str(last))
    return {**record, "status": FAILED, "liveness": reason, "finished_at": None,
            "exception": {"type": "NoHeartbeat", "message": reason, "traceback": ""}}  # fmt: skip


# -- folding a run -----------------------------------------------------------------------------
def fold_run(run: RunRecord, events: list[RunEvent], heartbeat: Heartbeat | None) -> dict[str, Any]:
    """The run as readers see it: ``run.json`` plus ``status``, ``finished_at``, ``status_reason``
    and ``tags`` folded from its events, and liveness for runs a local runner drives."""
    out: dict[str, Any] = dict(run)
    tags = list(run.get("tags") or [])
    ended: RunEvent | None = None
    for event in sorted(events, key=lambda e: str(e.get("at") or "")):
        kind = event.get("kind")
        if kind == "tag" and event.get("tag") not in tags:
            tags.append(str(event.get("tag")))
        elif kind == "untag" and event.get("tag") in tags:
            tags.remove(str(event.get("tag")))
        elif kind == "ended" and event.get("status") in (SUCCESS, FAILED):
            ended = event
    out["tags"] = sorted(tags)
    out["status_reason"] = None
    if ended is not None:
        out["status"], out["finished_at"] = ended["status"], ended.get("at")
        out["status_reason"] = ended.get("reason")
        return out
    if run.get("status") in (SUCCESS, FAILED):  # format 1: status rewritten in run.json
        return out
    out["status"], out["finished_at"] = RUNNING, None
    if run.get("driver") == "local-runner":
        last = (heartbeat.get("at") if heartbeat else None) or run.get("created_at")
        if is_stale(last):
            out["status"] = FAILED
            out["status_reason"] = no_heartbeat_reason(str(last))
    return out
