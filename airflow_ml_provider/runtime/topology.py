"""Which tasks feed a task: parent task ids and foreach stacks, derived from graph + store.

Task ids are foreach paths: ``"0"`` outside any foreach, ``"3"`` for the 4th split of a
top-level foreach, ``"3-1"`` one level deeper. A join closing a foreach has the id of its split.
"""

from __future__ import annotations

from airflow_ml_provider.graph.model import FlowGraph

ROOT_TASK = "0"


def child_task_id(parent_task_id: str, index: int, parent_depth: int) -> str:
    return str(index) if parent_depth == 0 else f"{parent_task_id}-{index}"


def outer_task_id(task_id: str) -> str:
    return task_id.rsplit("-", 1)[0] if "-" in task_id else ROOT_TASK


def parent_tasks(graph: FlowGraph, step: str, task_id: str, split_task_ids: list[str] | None) -> list[tuple[str, str]]:
    """``(step, task_id)`` of every parent; ``split_task_ids`` are a closed foreach's children."""
    node = graph[step]
    if step == "start":
        return []
    if node.is_join and graph.closes_foreach(step):
        if split_task_ids is None:
            raise ValueError(f"join {step!r} needs its foreach's task ids")
        return [(p, t) for t in split_task_ids for p in node.in_funcs]  # several: switch cases
    if node.is_join:
        return [(p, task_id) for p in node.in_funcs]
    parent = node.in_funcs[0]
    if graph[parent].type == "foreach":
        return [(parent, outer_task_id(task_id))]
    return [(p, task_id) for p in node.in_funcs]  # several only where switch cases meet
