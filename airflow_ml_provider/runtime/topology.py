"""Task ids, and which tasks feed a task: parent task ids derived from graph + store.

A task id is ``<step ordinal>`` outside any foreach and ``<step ordinal>-<foreach path>`` inside
one: ``start`` is ``"1"``, the 4th split of a body step with ordinal 5 is ``"5-3"``, one level
deeper ``"6-3-1"``. The ordinal is the step's 1-based position in
:meth:`FlowGraph.topological_order`, so ids are unique within a run (as Metaflow's are: code
that keys things by ``current.task_id`` works) and every task computes its own id from
(graph, step, foreach path) alone, with no coordination: an Airflow mapped task derives its path
from the id it is mapped over. This module is the one place that builds or parses task ids.

Runs written before this scheme used the bare foreach path (``"0"`` outside any foreach, ``"3"``,
``"3-1"``); they stay readable, and resume matches their tasks by foreach path (``runtime/resume.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_ml_provider.graph.model import FlowGraph

ForeachPath = tuple[int, ...]
LEGACY_ROOT_TASK = "0"  # the id of every task outside a foreach in runs of the old scheme


def step_ordinal(graph: FlowGraph, step: str) -> int:
    """1-based position of ``step`` in the graph's deterministic topological order (``start`` is 1)."""
    try:
        return graph.step_ordinals[step]
    except KeyError:
        raise ValueError(f"{step!r} is not a step of {graph.flow_name}") from None


def format_task_id(ordinal: int, path: Sequence[int]) -> str:
    """The task id of the step with ``ordinal`` at foreach ``path`` (for callers without the graph)."""
    return "-".join(str(int(p)) for p in (ordinal, *path))


def task_id_for(graph: FlowGraph, step: str, path: Sequence[int] = ()) -> str:
    """The id of the task of ``step`` at foreach ``path`` (empty outside any foreach)."""
    return format_task_id(step_ordinal(graph, step), path)


def foreach_path(task_id: str) -> ForeachPath:
    """The foreach path of a task id: ``"5-3-1"`` -> ``(3, 1)``, ``"1"`` -> ``()``."""
    parts = task_id.split("-")
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"not a task id of this provider: {task_id!r}")
    return tuple(int(p) for p in parts[1:])


def legacy_foreach_path(task_id: str) -> ForeachPath:
    """The foreach path of a task id written by the old scheme (the id was the path)."""
    if task_id == LEGACY_ROOT_TASK:
        return ()
    return tuple(int(p) for p in task_id.split("-"))


def check_task_id(graph: FlowGraph, step: str, task_id: str) -> None:
    """Raise ValueError unless ``task_id`` names a task of ``step`` (a mistyped ``--task-id``)."""
    path = foreach_path(task_id)
    if task_id_for(graph, step, path) != task_id or len(path) != graph.foreach_depth(step):
        raise ValueError(f"{task_id!r} is not a task id of step {step!r} (see runtime/topology.py)")


def child_task_ids(graph: FlowGraph, split: str, task_id: str, count: int) -> list[str]:
    """Ids of the ``count`` tasks foreach split task ``split/task_id`` fans out to (its body step's)."""
    body, path = graph[split].out_funcs[0], foreach_path(task_id)
    return [task_id_for(graph, body, (*path, i)) for i in range(count)]


def parent_tasks(graph: FlowGraph, step: str, task_id: str, split_task_ids: list[str] | None) -> list[tuple[str, str]]:
    """``(step, task_id)`` of every parent; ``split_task_ids`` are a closed foreach's children."""
    node = graph[step]
    if step == "start":
        return []
    path = foreach_path(task_id)
    if node.is_join and graph.closes_foreach(step):
        if split_task_ids is None:
            raise ValueError(f"join {step!r} needs its foreach's task ids")
        # several parents per child: switch cases meeting at the join
        return [(p, task_id_for(graph, p, foreach_path(t))) for t in split_task_ids for p in node.in_funcs]
    parent = node.in_funcs[0]
    if not node.is_join and graph[parent].type == "foreach":
        return [(parent, task_id_for(graph, parent, path[:-1]))]
    return [(p, task_id_for(graph, p, path)) for p in node.in_funcs]  # several: a join, or switch cases meeting
