"""Task ids are unique within a run (issue 15, bug 3), under ``python flow.py run`` and ``airflow dags test``.

The flow (tests/flows/unique_task_ids_flow.py): a static split whose branches store
``current.task_id`` under one name, a join that must see them differ and whose
``merge_artifacts`` must refuse the conflict, then a nested foreach. Ids are
``<step ordinal>[-<foreach path>]`` (runtime/topology.py); the client's ``Task.id`` and
``pathspec`` must be what the task saw as ``current.task_id`` and ``current.pathspec``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from airflow_ml_provider.client import Flow, Run, namespace
from tests.fixtures.airflow_local import dags_test, run_flow_file

FLOW = Path(__file__).parent / "flows" / "unique_task_ids_flow.py"
NAME = "UniqueTaskIdsFlow"

# topological order: start 1, left 2, right 3, join 4, fan 5, outer_body 6, inner_body 7, ...
EXPECTED = {
    "start": ["1"], "left": ["2"], "right": ["3"], "join": ["4"], "fan": ["5"],
    "outer_body": ["6-0", "6-1"],
    "inner_body": ["7-0-0", "7-0-1", "7-0-2", "7-1-0", "7-1-1", "7-1-2"],
    "inner_join": ["8-0", "8-1"], "outer_join": ["9"], "end": ["10"],
}  # fmt: skip


def _check(run: Run, mapped: bool, seen_ids: bool = True) -> None:
    ids = {step.id: [t.id for t in step.tasks()] for step in run.steps()}
    assert ids == EXPECTED
    every = [t for ts in ids.values() for t in ts]
    assert len(every) == len(set(every)), "task ids repeat within the run"
    for step in run.steps():
        for position, task in enumerate(step.tasks()):
            origin = task.origin_pathspec  # a task a resume reused saw its origin task's id
            seen = (origin.rsplit("/", 1)[-1], origin) if origin else (task.id, task.pathspec)
            assert task["seen"].data == seen or not seen_ids, task.pathspec
            assert task.pathspec == f"{NAME}/{run.id}/{step.id}/{task.id}"
            if mapped and "-" in task.id:  # Airflow's map index is the task's place in foreach order
                assert task.metadata["airflow"]["map_index"] == position, task.pathspec
    join = run["join"].task
    assert join["owners"].data == ["2", "3"]
    kind, names, message = join["conflict"].data
    assert kind == "UnhandledInMergeArtifactsException", message
    assert "owner" in names
    assert run["outer_join"].task["inner_ids"].data == EXPECTED["inner_body"]


def test_local_run_gives_every_task_its_own_id() -> None:
    result = run_flow_file(FLOW, "run")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    namespace(None)
    _check(Flow(NAME).latest_run, mapped=False)


def test_local_resume_reuses_tasks_by_step_and_foreach_path() -> None:
    assert run_flow_file(FLOW, "run").returncode == 0
    namespace(None)
    origin = Flow(NAME).latest_run
    result = run_flow_file(FLOW, "resume", "inner_join", "--origin-run-id", origin.id)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    resumed = Flow(NAME).latest_run
    assert resumed.id != origin.id
    _check(resumed, mapped=False)
    reused = resumed["inner_body"].task.origin_pathspec
    assert reused == f"{NAME}/{origin.id}/inner_body/7-0-0"
    assert resumed["inner_join"].task.origin_pathspec is None  # rerun from the named step


@pytest.fixture(scope="module")
def unique_dag(dags_folder: Path) -> Path:
    shutil.copy(FLOW, dags_folder / FLOW.name)
    return dags_folder


def test_airflow_run_gives_every_task_its_own_id(unique_dag: Path, airflow_home: Path) -> None:
    result = dags_test(NAME)
    db = sqlite3.connect(airflow_home / "airflow.db")
    try:
        run_id, state = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (NAME,)
        ).fetchone()
    finally:
        db.close()
    assert state == "success", (result.stdout + result.stderr)[-5000:]
    namespace(None)
    _check(Run(f"{NAME}/{run_id}"), mapped=True)


def _as_legacy_run(run_dir: Path) -> None:
    """Rewrite a run in the store as the old scheme wrote it: task ids were bare foreach paths."""

    def legacy(task_id: str) -> str:
        return task_id.split("-", 1)[1] if "-" in task_id else "0"

    for task_dir in sorted(run_dir.glob("steps/*/*")):
        for record in task_dir.glob("*.json"):
            meta = json.loads(record.read_text())
            if "task_id" in meta:
                meta["task_id"] = legacy(meta["task_id"])
            meta["parents"] = [f"{p.split('/')[0]}/{legacy(p.split('/')[1])}" for p in meta.get("parents") or []]
            for frame in meta.get("foreach_stack") or []:
                frame["task_id"] = legacy(frame["task_id"])
            if meta.get("foreach"):
                meta["foreach"]["task_ids"] = [legacy(t) for t in meta["foreach"]["task_ids"]]
            record.write_text(json.dumps(meta))
        task_dir.rename(task_dir.with_name(legacy(task_dir.name)))


def test_resume_from_a_run_of_the_old_id_scheme_matches_tasks_by_foreach_path(artifact_root: Path) -> None:
    assert run_flow_file(FLOW, "run").returncode == 0
    namespace(None)
    origin = Flow(NAME).latest_run
    _as_legacy_run(artifact_root / NAME / "runs" / origin.id)
    assert [t.id for t in origin["inner_body"].tasks()] == ["0-0", "0-1", "0-2", "1-0", "1-1", "1-2"]
    assert origin["start"].task.id == "0" and origin.successful  # old runs stay readable
    result = run_flow_file(FLOW, "resume", "inner_join", "--origin-run-id", origin.id)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    resumed = Flow(NAME).latest_run
    # this run's ids are of the current scheme (the origin's artifacts hold the ids it ran with)
    _check(resumed, mapped=False, seen_ids=False)
    assert resumed["inner_body"]["7-1-2"].origin_pathspec == f"{NAME}/{origin.id}/inner_body/1-2"
    assert resumed["fan"].task["outer"].data == [1, 2] and resumed["fan"].task.origin_pathspec is not None
