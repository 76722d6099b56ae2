"""Resume: reuse the successful tasks of an origin run instead of recomputing them.

A task is reused when the origin run has a successful attempt for the same step and foreach
path (matched by path, not by task id: the origin may number its steps differently, or predate
step ordinals in task ids, see ``runtime/topology.py``), every parent task in this run was
itself reused, and the step is neither the named resume step nor downstream of it. Reuse writes
a new attempt record that points at the origin's blobs (``cloned_from``): no artifact bytes are
copied. Everything from the first task that fails this test onwards runs normally, so a fixed
step and all that depends on it are recomputed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_ml_provider.datastore import SUCCESS, FlowDatastore
from airflow_ml_provider.errors import MLProviderError
from airflow_ml_provider.graph import FlowGraph
from airflow_ml_provider.runtime.topology import LEGACY_ROOT_TASK, foreach_path, legacy_foreach_path


class ResumeError(MLProviderError, ValueError):
    """The origin run or resume step named for a resume does not exist."""


def steps_to_rerun(graph: FlowGraph, resume_step: str | None) -> set[str]:
    """The named step and everything downstream of it (empty when no step is named)."""
    if not resume_step:
        return set()
    if resume_step not in graph.nodes:
        raise ResumeError(f"cannot resume from step {resume_step!r}: steps are {', '.join(graph.nodes)}")
    found, todo = set(), [resume_step]
    while todo:
        step = todo.pop()
        if step not in found:
            found.add(step)
            todo.extend(graph[step].out_funcs)
    return found


def check_origin(store: FlowDatastore, origin_run_id: str, given: str | None = None) -> dict[str, Any]:
    """The origin run's record; a one-line :class:`ResumeError` when the store has no such run.

    Callers check this before they create anything of the new run (no run folder, no attempt),
    so a mistyped id is an error message, never a phantom failed run. ``given`` is the id as the
    user wrote it (before encoding), for the message.
    """
    meta = store.read_run(origin_run_id)
    if meta is None:
        raise ResumeError(
            f"cannot resume: flow {store.flow_name} has no run {given or origin_run_id!r} in {store.backend.describe()}"
        )
    return meta


def reusable_attempt(
    store: FlowDatastore,
    graph: FlowGraph,
    origin_run_id: str | None,
    resume_step: str | None,
    step: str,
    task_id: str,
    parents: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """The origin attempt to reuse for this task, or None when the task must run."""
    if not origin_run_id or step in steps_to_rerun(graph, resume_step):
        return None
    if any(not p.get("cloned_from") for p in parents):
        return None
    origin_task = origin_task_id(store, origin_run_id, step, task_id)
    meta = store.latest_attempt(origin_run_id, step, origin_task) if origin_task is not None else None
    if meta is None or meta.get("status") != SUCCESS:
        return None
    problem = _blob_problem(store, meta, parents)
    if problem is not None:
        print(f"[ml-provider] not reusing {step}/{task_id} of run {origin_run_id}, running it again: {problem}",
              flush=True)  # fmt: skip
        return None
    return meta


def is_legacy_run(store: FlowDatastore, run_id: str) -> bool:
    """Whether the run's task ids are bare foreach paths (written before ids held step ordinals).

    Such a run has the start task ``start/0``; no id of the current scheme is ``0`` (ordinals start at 1).
    """
    return LEGACY_ROOT_TASK in store.task_ids(run_id, "start")


def origin_task_id(store: FlowDatastore, origin_run_id: str, step: str, task_id: str) -> str | None:
    """The origin run's task of ``step`` at the foreach path of ``task_id`` (None: it has none)."""
    path = foreach_path(task_id)
    legacy = is_legacy_run(store, origin_run_id)
    if not legacy and store.attempts(origin_run_id, step, task_id):
        return task_id  # same ordinals: the common case, no listing
    parse = legacy_foreach_path if legacy else foreach_path
    for candidate in store.task_ids(origin_run_id, step):
        try:
            if parse(candidate) == path:
                return candidate
        except ValueError:  # not an id of either scheme: not ours to match
            continue
    return None


# (artifact root, flow, blob key) -> None when intact, else why not; one check per key and process
_checked: dict[tuple[str, str, str], str | None] = {}


def _blob_problem(store: FlowDatastore, origin: dict[str, Any], parents: list[dict[str, Any]]) -> str | None:
    """Why the origin attempt's blobs cannot be reused (missing, corrupt), or None when they can.

    A clone points at the origin's blobs, so a corrupt one would hand a wrong value to every
    later step. Every key the attempt refers to is checked (read and hashed), except the keys its
    parents carry: those parents were reused too, and checked their own keys when they were.
    """
    from airflow_ml_provider.datastore import ArtifactIntegrityError

    inherited = {rec.get("key") for p in parents for rec in (p.get("artifacts") or {}).values()}
    for name, record in (origin.get("artifacts") or {}).items():
        key = record.get("key")
        if not key or key in inherited:
            continue
        memo = (store.backend.describe(), store.flow_name, key)
        if memo not in _checked:
            try:
                store.check_blob(key, name, record.get("checksum"))
                _checked[memo] = None
            except ArtifactIntegrityError as exc:
                _checked[memo] = str(exc)
                store.discard_corrupt_blob(key, record.get("checksum"))  # the rerun stores it anew
        if _checked[memo] is not None:
            return _checked[memo]
    return None


def cloned_meta(
    base: dict[str, Any],
    origin: dict[str, Any],
    foreach_stack: list[dict[str, Any]],
    child_task_ids: Callable[[int], list[str]],
) -> dict[str, Any]:
    """Attempt metadata for a reused task: the origin's artifacts, foreach info and switch decision, by reference.

    Task ids are this run's (``foreach_stack``, ``child_task_ids(num_splits)`` of a split): the
    origin's may differ (other step ordinals, or the old id scheme).
    """
    meta = {**base, "status": SUCCESS, "artifacts": origin.get("artifacts", {}), "new_artifacts": []}
    if "switch" in origin:  # a reused switch keeps its decision
        meta["switch"] = origin["switch"]
    meta["foreach_stack"] = foreach_stack
    if origin.get("foreach"):
        meta["foreach"] = {**origin["foreach"], "task_ids": child_task_ids(int(origin["foreach"]["num_splits"]))}
    meta["cloned_from"] = f"{origin['run_id']}/{origin['step']}/{origin['task_id']}/{origin['attempt']}"
    return meta
