"""``current.run``/``current.task``, Metaflow's step internals, ``Task.metadata_dict`` and ``python flow.py tag``."""

from __future__ import annotations

import pytest

from tests.metaflow_compat.helpers import FlowFiles

INTROSPECT_FLOW = """
import os

from airflow_ml_provider import FlowSpec, current, step


class IntrospectFlow(FlowSpec):
    @step
    def start(self):
        self.task_obj = current.task
        self.run_obj = current.run
        self.task_status = current.task.status
        self.lineage = (self._current_step,)
        self.tags_type = type(current.tags).__name__
        run = current.run
        run.add_tag("mine")
        self.seen_after_add = "mine" in run.user_tags
        run.remove_tag("mine")
        self.seen_after_remove = "mine" in run.user_tags
        self.items = ["a", "b"]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.frames = [(f.step, f.var, f.num_splits, f.index) for f in self._foreach_stack]
        self.next(self.join)

    @step
    def join(self, inputs):
        self.frames = [i.frames for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("FAIL_END"):
            raise ValueError("end fails on purpose")


if __name__ == "__main__":
    IntrospectFlow()
"""


@pytest.fixture(scope="module")
def introspect(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlowFiles, str]:
    files = FlowFiles(tmp_path_factory.mktemp("introspect"), tmp_path_factory.mktemp("artifacts"))
    files.write("introspect_flow.py", INTROSPECT_FLOW)
    return files, files.ok("introspect_flow.py", "run")


def test_current_task_and_run_are_client_objects_of_the_running_task(introspect) -> None:
    files, run_id = introspect
    with files.store():
        start = files.run("IntrospectFlow", run_id)["start"].task
        task_obj, run_obj = start["task_obj"].data, start["run_obj"].data
        assert task_obj.pathspec == f"IntrospectFlow/{run_id}/start/1" == start.pathspec
        assert run_obj.pathspec == f"IntrospectFlow/{run_id}"
        assert start["task_status"].data == "running"  # read while the step ran
        assert run_obj.successful  # the unpickled Run reads the store afresh


def test_metaflow_internals_current_step_and_foreach_stack(introspect) -> None:
    files, run_id = introspect
    with files.store():
        run = files.run("IntrospectFlow", run_id)
        assert run["start"].task["lineage"].data == ("start",)
        assert run["join"].task["frames"].data == [[("start", "items", 2, 0)], [("start", "items", 2, 1)]]


def test_metadata_dict_names_the_origin_of_a_resumed_run(introspect) -> None:
    files, _ = introspect
    failed = files("introspect_flow.py", "run", FAIL_END="1")
    assert failed.returncode != 0
    origin = failed.stdout.split("IntrospectFlow run ", 1)[1].split()[0]
    resumed = files.ok("introspect_flow.py", "resume", "--origin-run-id", origin)
    with files.store():
        run = files.run("IntrospectFlow", resumed)
        start = run["start"].task.metadata_dict
        assert start["origin-run-id"] == origin and start["origin-task-id"] == "1" and start["attempt"] == "0"
        assert start["python_version"].count(".") == 2
        end = run["end"].task.metadata_dict
        assert end["origin-run-id"] == origin and "origin-task-id" not in end  # rerun, not cloned
        assert "origin-run-id" not in files.run("IntrospectFlow", origin)["start"].task.metadata_dict


def test_tag_command_adds_removes_replaces_and_lists(introspect) -> None:
    files, run_id = introspect
    added = files("introspect_flow.py", "tag", "add", "--run-id", run_id, "alpha", "beta")
    assert added.returncode == 0 and "Operation successful" in added.stderr and "alpha, beta" in added.stderr
    assert files("introspect_flow.py", "tag", "remove", "--run-id", run_id, "beta").returncode == 0
    replaced = files("introspect_flow.py", "tag", "replace", "--run-id", run_id, "alpha", "gamma")
    assert replaced.returncode == 0, replaced.stderr
    listed = files("introspect_flow.py", "tag", "list", "--flat", "--hide-system-tags", "--run-id", run_id)
    assert listed.returncode == 0 and listed.stderr.splitlines()[1:] == ["gamma"]
    everything = files("introspect_flow.py", "tag", "list", "--flat", "--run-id", run_id).stderr.splitlines()[1:]
    assert "gamma" in everything and any(t.startswith("user:") for t in everything)
    with files.store():
        assert files.run("IntrospectFlow", run_id).user_tags == frozenset({"gamma"})
    missing = files("introspect_flow.py", "tag", "add", "x")
    assert missing.returncode == 1 and "specify a run with --run-id" in missing.stderr
    assert "The latest run of IntrospectFlow has id" in missing.stderr
    only_add = files("introspect_flow.py", "tag", "replace", "--run-id", run_id, "--add", "z")
    assert only_add.returncode == 1 and "use `tag add`" in only_add.stderr
    system = files("introspect_flow.py", "tag", "remove", "--run-id", run_id, "runtime:local")
    assert system.returncode == 1 and "system tags" in system.stderr


def test_client_objects_carry_their_runs_tags_and_path_components(introspect) -> None:
    from airflow_ml_provider.client import Flow

    files, run_id = introspect
    with files.store():
        run = files.run("IntrospectFlow", run_id)
        step = run["start"]
        task = step.task
        artifact = task["lineage"]
        assert step.tags == task.tags == artifact.tags == run.tags
        assert task.user_tags == run.user_tags and task.system_tags == run.system_tags
        assert task.path_components == ["IntrospectFlow", run_id, "start", "1"]
        assert run.path_components == ["IntrospectFlow", run_id] and Flow("IntrospectFlow").path_components == [
            "IntrospectFlow"
        ]
        assert Flow("IntrospectFlow").tags == frozenset()
        assert "lineage" in task.data and "nope" not in task.data
        assert task["tags_type"].data == "set"  # current.tags is a set, as Metaflow's
        assert run.end_task.pathspec == f"IntrospectFlow/{run_id}/end/4"
        # a step's own tag edit shows in its Run object right after it, whatever other tasks do
        assert task["seen_after_add"].data is True and task["seen_after_remove"].data is False
