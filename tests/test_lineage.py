"""Metaflow's lineage API on real local runs: parent, parent_tasks, child_tasks, origin_pathspec."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from airflow_ml_provider.client import Flow, Run, namespace, set_artifact_root
from tests.fixtures.airflow_local import airflow_env

FLOW = """
from airflow_ml_provider import FlowSpec, step

class LineageFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.out = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.out for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    LineageFlow()
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("lineage")
    (folder / "lineage_flow.py").write_text(textwrap.dedent(FLOW))
    root = folder / "store"
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root))

    def flow(*args: str) -> None:
        result = subprocess.run([sys.executable, str(folder / "lineage_flow.py"), *args], env=env, cwd=folder,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    set_artifact_root(str(root))
    namespace(None)
    flow("run")
    first = Flow("LineageFlow").latest_run.id
    flow("resume", "join", "--origin-run-id", first)
    second = next(r.id for r in Flow("LineageFlow").runs() if r.id != first)
    yield {"first": first, "second": second}
    set_artifact_root(None)


def test_parents_and_children_follow_the_graph(runs: dict[str, str]) -> None:
    run = Run(f"LineageFlow/{runs['first']}")
    start = run["start"].task
    assert start.parent.id == "start" and start.parent.parent.id == run.id
    work = sorted(start.child_tasks, key=lambda t: t.index)
    assert [t.pathspec for t in work] == [f"LineageFlow/{run.id}/work/2-{i}" for i in range(3)]
    join = run["join"].task
    assert sorted(t.id for t in join.parent_tasks) == ["2-0", "2-1", "2-2"]
    assert [t.step_name for t in work[0].child_tasks] == ["join"]
    assert list(run["end"].task.child_tasks) == []


def test_origin_pathspec_of_a_resumed_run_and_its_reused_tasks(runs: dict[str, str]) -> None:
    resumed = Run(f"LineageFlow/{runs['second']}")
    assert resumed.origin_pathspec == f"LineageFlow/{runs['first']}"
    assert resumed["start"].task.origin_pathspec == f"LineageFlow/{runs['first']}/start/1"
    assert resumed["join"].task.origin_pathspec is None  # the step resumed from ran again
    assert Run(f"LineageFlow/{runs['first']}").origin_pathspec is None
    assert resumed.data.total == 12


def test_step_children_run_parent_and_step_origin(runs: dict[str, str]) -> None:
    run = Run(f"LineageFlow/{runs['first']}")
    assert run.parent.id == "LineageFlow"
    assert [s.id for s in run["start"].child_steps] == ["work"]
    assert [s.id for s in run["work"].child_steps] == ["join"]
    assert list(run["end"].child_steps) == []
    resumed = Run(f"LineageFlow/{runs['second']}")
    assert resumed["work"].origin_pathspec == f"LineageFlow/{runs['first']}/work"
    assert resumed["end"].origin_pathspec is None


def test_metaflow_module_names_import() -> None:
    from airflow_ml_provider import current
    from airflow_ml_provider.exception import ExternalCommandFailed, MetaflowException
    from airflow_ml_provider.metaflow_current import current as metaflow_current

    assert metaflow_current is current and issubclass(ExternalCommandFailed, MetaflowException)
