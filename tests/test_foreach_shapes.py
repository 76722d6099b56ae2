"""Foreach shapes under a real ``airflow dags test``, read back through the client and the Airflow db.

Three flows cover the shapes of issue 6 with one Airflow run each:
  NestedFlow (tests/flows/nested_flow.py)  3 nested foreach levels, a join at each level, and a
                                           static branch inside the innermost body;
  ShapesFlow (tests/flows/shapes_flow.py)  a foreach inside a branch whose body has several steps
                                           and a static branch + join; a foreach of one item;
  LimitsFlow (tests/flows/limits_flow.py)  with [core] max_map_length = 5: an empty list, a split of
                                           6, a nested 3 x 3 fan-out; each must fail loudly.
Values and order come from the client (the artifact store); fan-in counts, states and map labels
from the Airflow metadata db (``task_instance``). Plus a wide foreach and lazy join inputs in local
mode (``python flow.py run``).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from airflow_ml_provider.client import Flow, Run, namespace, set_artifact_root
from tests.fixtures.airflow_local import airflow_env, dags_test

FLOWS = Path(__file__).parent / "flows"


# -- helpers ------------------------------------------------------------------------------------


class AirflowRun:
    """One ``airflow dags test`` run: its output, dag run row and task instances from the db."""

    def __init__(self, home: Path, dag_id: str, env: dict[str, str] | None = None) -> None:
        result = dags_test(dag_id, env=env)
        self.output = result.stdout + result.stderr
        self.returncode = result.returncode
        db = sqlite3.connect(home / "airflow.db")
        try:
            row = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            assert row is not None, f"no dag run of {dag_id}:\n{self.output[-5000:]}"
            self.run_id, self.state = row
            self.tis = [
                dict(zip(("task_id", "map_index", "state", "label"), r, strict=True))
                for r in db.execute(
                    "SELECT task_id, map_index, state, rendered_map_index FROM task_instance "
                    "WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index",
                    (dag_id, self.run_id),
                )
            ]
        finally:
            db.close()
        self.home = home
        self.dag_id = dag_id

    def counts(self) -> dict[str, int]:
        """Task instances per task id."""
        return dict(Counter(ti["task_id"] for ti in self.tis))

    def of(self, task_id: str) -> list[dict]:
        return [ti for ti in self.tis if ti["task_id"] == task_id]

    def labels(self, task_id: str) -> list[str]:
        return [ti["label"] for ti in self.of(task_id)]

    def states(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for ti in self.tis:
            out.setdefault(ti["task_id"], set()).add(ti["state"])
        return out

    def task_log(self, task_id: str) -> str:
        """What ``task_id`` logged in this run (all map indexes).

        ``dags test`` runs each task in-process and writes its log to the console, between
        "[DAG TEST] starting task_id=X" and "[DAG TEST] end task task_id=X" (no log files).
        """
        start = re.compile(rf"\[DAG TEST\] starting task_id={re.escape(task_id)} map_index=")
        end = re.compile(rf"\[DAG TEST\] end task task_id={re.escape(task_id)} map_index=")
        lines, inside = [], False
        for line in self.output.splitlines():
            if start.search(line):
                inside = True
            if inside:
                lines.append(line)
            if end.search(line):
                inside = False
        return "\n".join(lines)

    def client_run(self) -> Run:
        return Run(f"{self.dag_id}/{self.run_id}")


@pytest.fixture(scope="module")
def shape_dags(dags_folder: Path) -> Path:
    for name in ("nested_flow.py", "shapes_flow.py", "limits_flow.py"):
        shutil.copy(FLOWS / name, dags_folder / name)
    return dags_folder


@pytest.fixture(scope="module")
def nested(shape_dags: Path, airflow_home: Path) -> AirflowRun:
    run = AirflowRun(airflow_home, "NestedFlow")
    assert run.returncode == 0 and run.state == "success", run.output[-5000:]
    return run


@pytest.fixture(scope="module")
def shapes(shape_dags: Path, airflow_home: Path) -> AirflowRun:
    run = AirflowRun(airflow_home, "ShapesFlow")
    assert run.returncode == 0 and run.state == "success", run.output[-5000:]
    return run


@pytest.fixture(scope="module")
def limits(shape_dags: Path, airflow_home: Path) -> AirflowRun:
    return AirflowRun(airflow_home, "LimitsFlow", env=airflow_env(AIRFLOW__CORE__MAX_MAP_LENGTH="5"))


# -- nested foreach, 3 levels, branch in the innermost body -----------------------------------------

MODELS = {"d0": ["m0", "m1", "m2"], "d1": ["m0"]}
GRID = [1, 2]
# (dataset index, dataset, model index, model) in foreach order
MODEL_PATHS = [(di, d, mi, m) for di, d in enumerate(MODELS) for mi, m in enumerate(MODELS[d])]


def test_nested_foreach_values_and_join_order(nested: AirflowRun) -> None:
    run = nested.client_run()
    assert run.successful and run.metadata["dag_id"] == "NestedFlow"
    assert run.data.result == {d: {m: [110 * p for p in GRID] for m in models} for d, models in MODELS.items()}
    assert list(run.data.result) == ["d0", "d1"]  # outermost join: dataset order
    assert list(run.data.result["d0"]) == ["m0", "m1", "m2"]

    # middle joins: one per dataset, inputs in model order
    join_models = run["join_models"].tasks()
    assert [t.id for t in join_models] == ["9-0", "9-1"]
    assert [t.data.model_order for t in join_models] == [MODELS["d0"], MODELS["d1"]]
    assert [t.data.dataset for t in join_models] == ["d0", "d1"]

    # innermost joins: one per (dataset, model), inputs in grid order with their full foreach paths
    join_grid = run["join_grid"].tasks()
    assert [t.id for t in join_grid] == [f"8-{di}-{mi}" for di, _, mi, _ in MODEL_PATHS]
    for task, (di, d, mi, m) in zip(join_grid, MODEL_PATHS, strict=True):
        assert task.data.scores == [110 * p for p in GRID]
        assert task.data.paths == [[(di, d), (mi, m), (gi, p)] for gi, p in enumerate(GRID)]
        assert (task.data.dataset, task.data.model) == (d, m)
        assert task.index == mi  # the join sits in the per-dataset foreach, at the model's index

    # the static branch inside the innermost body joined once per grid point
    merges = run["merge"].tasks()
    expected_ids = [f"7-{di}-{mi}-{gi}" for di, _, mi, _ in MODEL_PATHS for gi in range(len(GRID))]
    assert [t.id for t in merges] == expected_ids
    assert [t.data.score for t in merges] == [110 * p for _ in MODEL_PATHS for p in GRID]
    assert [t.index for t in merges] == [gi for _ in MODEL_PATHS for gi in range(len(GRID))]
    stack = merges[-1].metadata["foreach_stack"]
    assert [(f["var"], f["index"], f["num_splits"]) for f in stack] == [
        ("datasets", 1, 2), ("models", 0, 1), ("grid", 1, 2),
    ]  # fmt: skip


def test_nested_foreach_fan_in_counts_in_airflow(nested: AirflowRun) -> None:
    assert nested.counts() == {
        "start": 1, "per_dataset": 2, "per_dataset__fanout": 1, "per_model": 4, "per_model__fanout": 1,
        "fit": 8, "score_a": 8, "score_b": 8, "merge": 8, "join_grid": 4, "join_models": 2,
        "join_datasets": 1, "end": 1,
    }  # fmt: skip
    assert {ti["state"] for ti in nested.tis} == {"success"}
    for task_id, n in [("per_dataset", 2), ("per_model", 4), ("fit", 8), ("merge", 8), ("join_grid", 4)]:
        assert [ti["map_index"] for ti in nested.of(task_id)] == list(range(n)), task_id
    for task_id in ("start", "per_dataset__fanout", "per_model__fanout", "join_datasets", "end"):
        assert [ti["map_index"] for ti in nested.of(task_id)] == [-1], task_id


def test_nested_foreach_map_labels_name_the_item(nested: AirflowRun) -> None:
    assert nested.labels("per_dataset") == ["2-0: 'd0'", "2-1: 'd1'"]  # "<task id>: <item>"
    assert nested.labels("per_model") == ["3-0-0: 'm0'", "3-0-1: 'm1'", "3-0-2: 'm2'", "3-1-0: 'm0'"]
    fit_paths = [(f"{di}-{mi}-{gi}", p) for di, _, mi, _ in MODEL_PATHS for gi, p in enumerate(GRID)]
    for step, ordinal in (("fit", 4), ("score_a", 5), ("merge", 7)):
        assert nested.labels(step) == [f"{ordinal}-{path}: {p}" for path, p in fit_paths], step
    assert nested.labels("join_grid") == [f"8-{di}-{mi}: {m!r}" for di, _, mi, m in MODEL_PATHS]
    assert nested.labels("join_models") == ["9-0: 'd0'", "9-1: 'd1'"]


# -- foreach in a branch, multi-step body with a branch + join, foreach of one item ---------------


def test_branch_foreach_multi_step_body_values_and_order(shapes: AirflowRun) -> None:
    run = shapes.client_run()
    assert run.successful
    grid = ["0:a:1:A:100", "1:bb:2:BB:100", "2:ccc:3:CCC:100"]
    assert run.data.result == {"grid": grid, "solo": ["only@0+100"]}
    join = run["join_items"].task
    assert join.data.outs == grid
    assert join.data.indexes == [0, 1, 2]
    assert join.data.rejoined == [(0, "a"), (1, "bb"), (2, "ccc")]  # self.index/self.input after a static join
    assert join.data.stacks == [[(i, 3, item)] for i, item in enumerate(["a", "bb", "ccc"])]
    for step, ordinal in (("prep", 4), ("left", 6), ("right", 7), ("rejoin", 9), ("post", 10)):
        tasks = run[step].tasks()
        assert [t.id for t in tasks] == [f"{ordinal}-{i}" for i in range(3)], step
        assert [t.index for t in tasks] == [0, 1, 2], step
    assert [t.data.pair for t in run["rejoin"].tasks()] == [(1, "A"), (2, "BB"), (3, "CCC")]
    assert [t.id for t in run["solo_body"].tasks()] == ["5-0"]
    assert run["solo_join"].task.data.solos == ["only@0+100"]


def test_branch_foreach_fan_in_counts_and_labels(shapes: AirflowRun) -> None:
    assert shapes.counts() == {
        "start": 1, "grid_branch": 1, "prep": 3, "left": 3, "right": 3, "rejoin": 3, "post": 3,
        "join_items": 1, "solo_branch": 1, "solo_body": 1, "solo_join": 1, "join_branches": 1, "end": 1,
    }  # fmt: skip
    assert {ti["state"] for ti in shapes.tis} == {"success"}
    for step, ordinal in (("prep", 4), ("left", 6), ("right", 7), ("rejoin", 9), ("post", 10)):
        assert [ti["map_index"] for ti in shapes.of(step)] == [0, 1, 2], step
        assert shapes.labels(step) == [f"{ordinal}-0: 'a'", f"{ordinal}-1: 'bb'", f"{ordinal}-2: 'ccc'"], step
    assert [(ti["map_index"], ti["label"]) for ti in shapes.of("solo_body")] == [(0, "5-0: 'only'")]
    assert [ti["map_index"] for ti in shapes.of("join_items")] == [-1]


# -- empty list, max_map_length at the top level and across a nested fan-out ------------------------


def test_unmappable_lists_fail_the_run_loudly(limits: AirflowRun) -> None:
    states = limits.states()
    assert limits.state == "failed", limits.output[-5000:]
    assert limits.returncode != 0
    assert "skipped" not in {ti["state"] for ti in limits.tis}, states  # nothing silently skipped
    assert states["start"] == {"success"}
    # the failing splits, and what they did not fan out to
    assert states["empty_split"] == {"failed"} and states["wide_split"] == {"failed"}
    assert states["inner_split__fanout"] == {"failed"}
    assert states["outer_split"] == {"success"} and states["inner_split"] == {"success"}
    assert len(limits.of("inner_split")) == 3  # 3 items each: within the limit on their own
    for task_id in ("empty_body", "empty_join", "wide_body", "wide_join", "cell", "inner_join",
                    "outer_join", "all_done", "end"):  # fmt: skip
        assert states[task_id] == {"upstream_failed"}, (task_id, states)

    empty_msg = "foreach='nothing': self.nothing is empty"
    six_msg = "foreach='six': 6 items exceed Airflow's [core] max_map_length = 5"
    nine_msg = "nested foreach 'inner_split' fans out to 9 tasks, more than Airflow's [core] max_map_length = 5"
    assert empty_msg in limits.task_log("empty_split")
    assert six_msg in limits.task_log("wide_split") and "AIRFLOW__CORE__MAX_MAP_LENGTH" in limits.task_log("wide_split")
    fanout_log = limits.task_log("inner_split__fanout")
    assert nine_msg in fanout_log and "AIRFLOW__CORE__MAX_MAP_LENGTH" in fanout_log

    run = limits.client_run()
    assert not run.successful and run.metadata["status"] == "failed"
    empty, wide = run["empty_split"].task, run["wide_split"].task
    assert not empty.successful and empty_msg in empty.exception["message"]
    assert not wide.successful and six_msg in wide.exception["message"]
    assert "AIRFLOW__CORE__MAX_MAP_LENGTH" in wide.exception["message"]
    assert [t.data.cols for t in run["inner_split"].tasks()] == [[f"{r}x{c}" for c in range(3)] for r in range(3)]
    for step in ("empty_body", "wide_body", "cell", "all_done", "end"):
        assert step not in run, step


def test_a_failing_item_fails_the_run_and_keeps_its_map_label(limits: AirflowRun) -> None:
    """One of three mapped items raises: the others succeed, the join waits, the UI says which item failed."""
    body = limits.of("item_body")
    assert [(ti["map_index"], ti["state"]) for ti in body] == [(0, "success"), (1, "failed"), (2, "success")]
    assert limits.states()["item_join"] == {"upstream_failed"}
    run = limits.client_run()
    failed = run["item_body"]["9-1"]
    assert not failed.successful and "item 1 (boom) is broken" in failed.exception["message"]
    assert "item 1 (boom) is broken" in limits.task_log("item_body")
    assert [t.data.value for t in run["item_body"].tasks() if t.successful] == ["ok", "fine"]
    # the label is what a user looks for in the grid, above all on the failed task
    assert [ti["label"] for ti in body] == ["9-0: 'ok'", "9-1: 'boom'", "9-2: 'fine'"]


# -- wide foreach and lazy join inputs, local mode ---------------------------------------------------

WIDTH = 200
BIG_MB = 5


def test_wide_foreach_locally_with_lazy_join_inputs(tmp_path: Path) -> None:
    """200 body tasks with a 5 MB array each; the join reads only their small artifacts."""
    root = tmp_path / "artifacts"
    try:
        result = subprocess.run(
            [sys.executable, str(FLOWS / "wide_flow.py"), "run", "--width", str(WIDTH), "--big_mb", str(BIG_MB)],
            # cold step processes: a warm starter has numpy (and pandas) loaded before the join runs,
            # which would hide whether the join loaded the arrays, and its pages would count in the
            # join's peak RSS
            env=airflow_env(
                AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root), AIRFLOW__ML_PROVIDER__LOCAL_WARM_IMPORTS="False"
            ),
            capture_output=True, text=True,
            timeout=900, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        run_id = re.search(r"^\[ml-provider\] WideFlow run (\S+) -> ", result.stdout, re.M).group(1)
        set_artifact_root(str(root))
        namespace(None)
        run = Flow("WideFlow")[run_id]
        assert run.successful
        body = run["body"].tasks()
        assert len(body) == WIDTH
        assert [t.id for t in body] == [f"2-{i}" for i in range(WIDTH)]
        join = run["join"].task.data
        assert join.n_inputs == WIDTH
        assert join.order == [f"item{i}" for i in range(WIDTH)]  # foreach order, not "0, 1, 10, 100, ..."
        assert join.positions == list(range(WIDTH))
        # the large arrays exist, one distinct blob per task ...
        bigs = [body[i]["big"] for i in (0, 1, WIDTH - 1)]
        assert all(b.size >= BIG_MB * 2**20 for b in bigs)
        assert len({b.sha for b in bigs}) == 3
        assert float(body[WIDTH - 1].data.big[0]) == WIDTH - 1
        # ... and the join never loaded them: far below WIDTH * 5 MB = 1000 MB, numpy not even imported
        assert join.numpy_loaded is False
        assert join.join_peak_mb < WIDTH * BIG_MB / 10, join.join_peak_mb
        assert join.join_peak_mb < max(join.body_peaks_mb), (join.join_peak_mb, max(join.body_peaks_mb))
    finally:
        set_artifact_root(None)
        shutil.rmtree(root, ignore_errors=True)
