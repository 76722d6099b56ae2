"""Switch decisions (``self.next({...}, condition=...)``): what a switch task records, and which
parents a step where cases meet really has.

The switch task's attempt record holds ``switch = {condition, value, step}``; it is the one truth
that the local runner, Airflow's case tasks (which skip themselves when not chosen), the step
where cases meet and the client all read.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_ml_provider.datastore import FlowDatastore
from airflow_ml_provider.graph.model import FlowGraph


def switch_record(choice: dict[str, Any]) -> dict[str, Any]:
    """The attempt record's ``switch`` entry; a value that is not JSON is kept as its repr."""
    value = choice["value"]
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        value = repr(value)
    return {"condition": choice["condition"], "value": value, "step": choice["step"]}


def chosen_case(store: FlowDatastore, run_id: str, switch: str, task_id: str) -> str | None:
    """The step switch task ``switch/task_id`` chose; None when it has no successful attempt
    (it was skipped itself, inside a case of an outer switch that was not chosen)."""
    meta = store.latest_attempt(run_id, switch, task_id)
    return ((meta or {}).get("switch") or {}).get("step")


def gate_open(store: FlowDatastore, run_id: str, gates: list[tuple[str, str, str]]) -> str | None:
    """None when every enclosing switch chose this task's case, else why this task does not run.

    ``gates`` are ``(switch, case, switch task id)``: the switch's task at this task's foreach path.
    """
    for switch, case, switch_task in gates:
        chosen = chosen_case(store, run_id, switch, switch_task)
        if chosen != case:
            how = f"chose {chosen!r}" if chosen else "did not run"
            return f"switch {switch!r} (task {switch_task}) {how}, so case {case!r} does not run"
    return None


def switch_parents(
    store: FlowDatastore, graph: FlowGraph, run_id: str, step: str, pairs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The parents of a step where switch cases meet: the ones that ran, in ``pairs`` order.

    A parent counts if it has a successful attempt for that task id and, when it is the switch
    itself (a case going straight to this step), it chose this step.
    """
    found = []
    for parent, task_id in pairs:
        meta = store.latest_attempt(run_id, parent, task_id)
        if meta is None:
            continue
        if graph[parent].type == "split-switch" and (meta.get("switch") or {}).get("step") != step:
            continue
        found.append(meta)
    if not found:
        raise RuntimeError(
            f"step {step!r}: none of its parents ({', '.join(graph[step].in_funcs)}) ran in run {run_id}; "
            "the switch before it must choose a case that leads here"
        )
    return found
