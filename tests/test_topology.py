"""Task ids (runtime/topology.py): unique within a run, computed from (graph, step, foreach path) alone."""

from __future__ import annotations

import pytest

from airflow_ml_provider.graph import build_graph
from airflow_ml_provider.runtime.topology import (
    check_task_id,
    child_task_ids,
    foreach_path,
    format_task_id,
    legacy_foreach_path,
    parent_tasks,
    step_ordinal,
    task_id_for,
)
from tests.flows.unique_task_ids_flow import UniqueTaskIdsFlow

GRAPH = build_graph(UniqueTaskIdsFlow)


def test_ordinals_follow_the_topological_order_from_one() -> None:
    assert [step_ordinal(GRAPH, s) for s in GRAPH.topological_order()] == list(range(1, len(GRAPH.nodes) + 1))
    assert task_id_for(GRAPH, "start") == "1" and task_id_for(GRAPH, "end") == "10"


def test_ids_and_paths_round_trip() -> None:
    assert task_id_for(GRAPH, "inner_body", (3, 1)) == format_task_id(7, [3, 1]) == "7-3-1"
    assert foreach_path("7-3-1") == (3, 1) and foreach_path("4") == ()
    assert legacy_foreach_path("0") == () and legacy_foreach_path("3-1") == (3, 1)
    with pytest.raises(ValueError):
        foreach_path("a-1")


def test_both_branches_of_a_static_split_have_their_own_id() -> None:
    assert task_id_for(GRAPH, "left") != task_id_for(GRAPH, "right")
    assert parent_tasks(GRAPH, "join", "4", None) == [("left", "2"), ("right", "3")]


def test_parents_inside_and_across_a_foreach() -> None:
    assert parent_tasks(GRAPH, "start", "1", None) == []
    assert parent_tasks(GRAPH, "outer_body", "6-1", None) == [("fan", "5")]
    assert parent_tasks(GRAPH, "inner_body", "7-1-2", None) == [("outer_body", "6-1")]
    assert parent_tasks(GRAPH, "inner_join", "8-1", ["7-1-0", "7-1-1"]) == [
        ("inner_body", "7-1-0"), ("inner_body", "7-1-1"),
    ]  # fmt: skip
    assert parent_tasks(GRAPH, "end", "10", None) == [("outer_join", "9")]
    with pytest.raises(ValueError, match="needs its foreach"):
        parent_tasks(GRAPH, "outer_join", "9", None)


def test_a_split_names_its_children_and_a_wrong_id_is_refused() -> None:
    assert child_task_ids(GRAPH, "fan", "5", 2) == ["6-0", "6-1"]
    assert child_task_ids(GRAPH, "outer_body", "6-1", 3) == ["7-1-0", "7-1-1", "7-1-2"]
    check_task_id(GRAPH, "inner_body", "7-1-2")
    for step, task_id in (("start", "0"), ("inner_body", "7-1"), ("left", "3"), ("end", "10-1")):
        with pytest.raises(ValueError, match="not a task id"):
            check_task_id(GRAPH, step, task_id)
