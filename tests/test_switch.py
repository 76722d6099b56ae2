"""Switch (``self.next({...}, condition=...)``, Metaflow 2.17+): only the chosen case runs.

Each shape of Metaflow's own switch graphs (test/core/graphs/switch_*.json) runs under
``python flow.py run`` and under a real ``airflow dags test``; the tests check which steps ran
(client), which task instances ended ``skipped`` (Airflow's db) and what the step after the switch
saw. Plus the graph errors a switch can cause, at check time.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from airflow_ml_provider.client import Flow, Run, namespace
from airflow_ml_provider.graph import FlowGraphError, build_graph
from tests.fixtures.airflow_local import dags_test, run_flow_file
from tests.flows import switch_bad_flows

FLOWS = Path(__file__).parent / "flows"
BASIC = FLOWS / "switch_basic_flow.py"
SHAPES = FLOWS / "switch_shapes_flow.py"


def _latest(flow: str) -> Run:
    namespace(None)
    return Flow(flow).latest_run


def _ran(run: Run) -> set[str]:
    return {s.pathspec.rsplit("/", 1)[-1] for s in run.steps()}


# -- python flow.py run -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "ran", "end_line"),
    [
        (["NestedSwitchFlow", "run"], {"start", "switch2", "d", "end"}, "path d"),
        (["NestedSwitchFlow", "run", "--outer", "b"], {"start", "b", "end"}, "path b"),
        (["NestedSwitchFlow", "run", "--inner", "c"], {"start", "switch2", "c", "end"}, "path c"),
        (["ForeachInSwitchFlow", "run"], {"start", "process_items", "do_work", "join_work", "end"},
         "result ['ITEM_1', 'ITEM_2']"),
        (["ForeachInSwitchFlow", "run", "--mode", "skip"], {"start", "skip_processing", "end"}, "result skipped"),
        (["ForeachInSwitchInForeachFlow", "run"],
         {"start", "pick", "fan", "part", "fan_join", "plain", "merge", "join", "end"},
         "outs [[10, 11], [2], [30, 31]]"),
        (["SwitchInBranchFlow", "run", "--condition_value", "case2"], {"start", "a", "b", "d", "join", "end"},
         "seen ['b', 'd'] cv d"),
    ],
)  # fmt: skip
def test_local_run_takes_only_the_chosen_case(args: list[str], ran: set[str], end_line: str) -> None:
    result = run_flow_file(SHAPES, *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert end_line in result.stdout
    run = _latest(args[0])
    assert run.successful and _ran(run) == ran
    skipped = set(build_graph_of(args[0]).nodes) - ran
    for step in skipped:
        assert f"{step}: skipped (a switch chose another case)" in result.stdout


def build_graph_of(flow_name: str):  # type: ignore[no-untyped-def]
    from tests.flows import switch_shapes_flow

    return build_graph(getattr(switch_shapes_flow, flow_name))


def test_local_switch_in_foreach_each_item_takes_its_case_and_the_merge_sees_it() -> None:
    result = run_flow_file(SHAPES, "SwitchInForeachFlow", "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = _latest("SwitchInForeachFlow")
    assert run.data.outs == ["0:L1", "1:H20!", "2:L3", "3:H40!"]
    assert sorted(t.index for t in run["high"].tasks()) == [1, 3]
    assert sorted(t.index for t in run["low"].tasks()) == [0, 2]
    choices = {t.index: t.switch for t in run["classify"].tasks()}
    assert choices[1] == {"condition": "kind", "value": "high", "step": "high"}


def test_metaflow_switch_example_runs_locally_with_only_the_import_swapped() -> None:
    result = run_flow_file(BASIC, "run", "--case", "case3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "path c x 1" in result.stdout
    run = _latest("SwitchBasicFlow")
    assert _ran(run) == {"start", "switch_step", "c", "end"}
    assert run["switch_step"].task.switch["step"] == "c"


def test_resume_reuses_the_switch_decision_and_reruns_inside_the_chosen_case() -> None:
    assert run_flow_file(BASIC, "run", "--case", "case2").returncode == 0
    origin = _latest("SwitchBasicFlow")
    result = run_flow_file(BASIC, "resume", "b2", "--origin-run-id", origin.id)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reused" in result.stdout and "path b+b2 x 1" in result.stdout
    run = _latest("SwitchBasicFlow")
    assert run.id != origin.id and _ran(run) == {"start", "switch_step", "b", "b2", "end"}
    assert run["switch_step"].task.switch["step"] == "b"


def test_a_condition_value_that_is_no_case_fails_the_step_clearly() -> None:
    result = run_flow_file(BASIC, "run", "--case", "nope")
    assert result.returncode != 0
    assert "Switch condition variable 'condition' has value 'nope' which is not in the available cases: " \
        "['case1', 'case2', 'case3']" in result.stdout + result.stderr  # fmt: skip
    run = _latest("SwitchBasicFlow")
    assert run.status == "failed" and run["switch_step"].task.exception.type == "builtins.RuntimeError"


# -- graph errors at check time ------------------------------------------------------------------


def test_recursive_switch_is_refused_because_an_airflow_dag_is_acyclic() -> None:
    with pytest.raises(FlowGraphError) as err:
        build_graph(switch_bad_flows._RecursiveSwitchFlow)
    text = str(err.value)
    assert "switch_bad_flows.py:" in text and "recursive switch" in text
    assert "loop_step -> loop_step" in text and "an Airflow DAG is acyclic" in text


def test_a_switch_case_straight_into_a_join_is_refused() -> None:
    with pytest.raises(FlowGraphError, match=r"goes straight to join 'join'\. A conditional path cannot lead"):
        build_graph(switch_bad_flows._SwitchIntoJoinFlow)


def test_a_switch_condition_must_be_a_literal_name() -> None:
    with pytest.raises(FlowGraphError, match="condition= must be a literal attribute name"):
        build_graph(switch_bad_flows._SwitchConditionNotLiteralFlow)


# -- airflow dags test ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def switch_dags(dags_folder: Path) -> Path:
    for path in (BASIC, SHAPES):
        shutil.copy(path, dags_folder / path.name)
    return dags_folder


def _airflow_run(home: Path, dag_id: str, conf: dict | None = None) -> tuple[str, dict[tuple[str, int], str], str]:
    result = dags_test(dag_id, conf=conf)
    db = sqlite3.connect(home / "airflow.db")
    try:
        run_id, state = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        tis = {
            (t, m): s
            for t, m, s in db.execute(
                "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
            )
        }
    finally:
        db.close()
    assert state == "success", (result.stdout + result.stderr)[-5000:]
    return run_id, tis, result.stdout + result.stderr


def _states(tis: dict[tuple[str, int], str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for (task, _), state in tis.items():
        out.setdefault(task, set()).add(state)
    return out


def test_dags_test_metaflow_switch_example_skips_the_other_cases(switch_dags: Path, airflow_home: Path) -> None:
    run_id, tis, _ = _airflow_run(airflow_home, "SwitchBasicFlow", {"case": "case2"})
    assert _states(tis) == {
        "start": {"success"}, "switch_step": {"success"}, "a": {"skipped"}, "b": {"success"},
        "b2": {"success"}, "c": {"skipped"}, "end": {"success"},
    }  # fmt: skip
    run = Run(f"SwitchBasicFlow/{run_id}", _namespace_check=False)
    assert run.successful and run.data.path == "b+b2"
    db = sqlite3.connect(airflow_home / "airflow.db")
    try:  # the switch task's choice is also an XCom (key "switch") for plain Airflow tasks to read
        (value,) = db.execute(
            "SELECT value FROM xcom WHERE dag_id = 'SwitchBasicFlow' AND run_id = ? AND task_id = 'switch_step' "
            "AND key = 'switch'", (run_id,)
        ).fetchone()  # fmt: skip
    finally:
        db.close()
    assert json.loads(value) == "b"
    assert _ran(run) == {"start", "switch_step", "b", "b2", "end"}


def test_dags_test_nested_switch(switch_dags: Path, airflow_home: Path) -> None:
    run_id, tis, _ = _airflow_run(airflow_home, "NestedSwitchFlow", {"outer": "b"})
    assert _states(tis) == {
        "start": {"success"}, "switch2": {"skipped"}, "b": {"success"}, "c": {"skipped"},
        "d": {"skipped"}, "end": {"success"},
    }  # fmt: skip
    assert Run(f"NestedSwitchFlow/{run_id}", _namespace_check=False).data.path == "b"


def test_dags_test_switch_inside_a_foreach(switch_dags: Path, airflow_home: Path) -> None:
    run_id, tis, _ = _airflow_run(airflow_home, "SwitchInForeachFlow")
    assert {m: tis[("high", m)] for m in range(4)} == {0: "skipped", 1: "success", 2: "skipped", 3: "success"}
    assert {m: tis[("high2", m)] for m in range(4)} == {0: "skipped", 1: "success", 2: "skipped", 3: "success"}
    assert {m: tis[("low", m)] for m in range(4)} == {0: "success", 1: "skipped", 2: "success", 3: "skipped"}
    assert {tis[("merge", m)] for m in range(4)} == {"success"}
    run = Run(f"SwitchInForeachFlow/{run_id}", _namespace_check=False)
    assert run.data.outs == ["0:L1", "1:H20!", "2:L3", "3:H40!"]


def test_dags_test_foreach_inside_a_switch_case(switch_dags: Path, airflow_home: Path) -> None:
    run_id, tis, _ = _airflow_run(airflow_home, "ForeachInSwitchFlow", {"mode": "skip"})
    states = _states(tis)
    assert states["process_items"] == states["do_work"] == states["join_work"] == {"skipped"}
    assert states["skip_processing"] == states["end"] == {"success"}
    assert Run(f"ForeachInSwitchFlow/{run_id}", _namespace_check=False).data.result == "skipped"
    run_id, tis, _ = _airflow_run(airflow_home, "ForeachInSwitchFlow", {"mode": "process"})
    assert _states(tis)["skip_processing"] == {"skipped"}
    assert Run(f"ForeachInSwitchFlow/{run_id}", _namespace_check=False).data.result == ["ITEM_1", "ITEM_2"]


def test_dags_test_switch_inside_a_static_branch(switch_dags: Path, airflow_home: Path) -> None:
    run_id, tis, _ = _airflow_run(airflow_home, "SwitchInBranchFlow")
    states = _states(tis)
    assert states["c"] == {"success"} and states["d"] == {"skipped"} and states["join"] == {"success"}
    run = Run(f"SwitchInBranchFlow/{run_id}", _namespace_check=False)
    assert run.data.seen == ["b", "c"] and run.data.cv == "c"


def test_dags_test_foreach_inside_a_switch_case_inside_a_foreach(switch_dags: Path, airflow_home: Path) -> None:
    run_id, tis, _ = _airflow_run(airflow_home, "ForeachInSwitchInForeachFlow")
    assert {m: tis[("fan", m)] for m in range(3)} == {0: "success", 1: "skipped", 2: "success"}
    assert {m: tis[("plain", m)] for m in range(3)} == {0: "skipped", 1: "success", 2: "skipped"}
    assert {tis[("part", m)] for m in range(4)} == {"success"} and ("part", 4) not in tis  # 2 items x 2 parts
    assert {m: tis[("fan_join", m)] for m in range(3)} == {0: "success", 1: "skipped", 2: "success"}
    run = Run(f"ForeachInSwitchInForeachFlow/{run_id}", _namespace_check=False)
    assert run.data.outs == [[10, 11], [2], [30, 31]]
