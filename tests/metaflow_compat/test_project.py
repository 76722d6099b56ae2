"""``@project``: branches under ``python flow.py run``, in the compiled DAG id, and under ``airflow dags test``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_ml_provider.client import Flow
from tests.fixtures.airflow_local import airflow_env, dags_test
from tests.metaflow_compat.helpers import FlowFiles

PROJECT_FLOW = """
# Airflow DAG
from airflow_ml_provider import FlowSpec, Parameter, current, project, step


@project(name="demo"{extra})
class {cls}(FlowSpec):
    items = Parameter("items", separator=",", default="a,b")
    made_by = Parameter("made_by", default=lambda ctx: f"{{current.project_flow_name}}|{{ctx.parameter_name}}")

    @step
    def start(self):
        self.info = {{
            name: getattr(current, name)
            for name in ("project_name", "branch_name", "is_user_branch", "is_production", "project_flow_name")
        }}
        self.next(self.end)

    @step
    def end(self):
        self.branch_in_end = current.branch_name


if __name__ == "__main__":
    {cls}()
"""


def project_flow(cls: str = "ProjFlow", extra: str = "") -> str:
    return PROJECT_FLOW.format(cls=cls, extra=extra)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> FlowFiles:
    files = FlowFiles(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("artifacts"))
    files.write("proj_flow.py", project_flow())
    files.write("pinned_flow.py", project_flow("PinnedFlow", ', branch="pinned"'))
    files.write(
        "plain_flow.py",
        """
        from airflow_ml_provider import FlowSpec, step

        class PlainFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            PlainFlow()
        """,
    )
    return files


def _start_info(files: FlowFiles, flow: str, run_id: str) -> tuple[dict, frozenset[str]]:
    with files.store():
        run = files.run(flow, run_id)
        assert run["end"].task["branch_in_end"].data == run["start"].task["info"].data["branch_name"]
        return run["start"].task["info"].data, run.tags


@pytest.mark.parametrize(
    ("args", "env", "branch", "user_branch", "production"),
    [
        (["--branch", "feature_x"], {}, "test.feature_x", False, False),
        (["--production"], {}, "prod", False, True),
        (["--production", "--branch", "rc1"], {}, "prod.rc1", False, True),
        ([], {"METAFLOW_BRANCH": "from_env"}, "test.from_env", False, False),
        ([], {"METAFLOW_PRODUCTION": "True"}, "prod", False, True),
        ([], {}, "user.mf_tester", True, False),
    ],
)
def test_branch_of_a_local_run(files: FlowFiles, args: list, env: dict, branch: str, user_branch: bool,
                               production: bool) -> None:  # fmt: skip
    run_id = files.ok("proj_flow.py", *args, "run", METAFLOW_USER="mf_tester", **env)
    info, tags = _start_info(files, "ProjFlow", run_id)
    assert info == {
        "project_name": "demo", "branch_name": branch, "is_user_branch": user_branch,
        "is_production": production, "project_flow_name": f"demo.{branch}.ProjFlow",
    }  # fmt: skip
    assert {"project:demo", f"project_branch:{branch}"} <= tags
    with files.store():
        assert files.run("ProjFlow", run_id)["end"].task["made_by"].data == f"demo.{branch}.ProjFlow|made_by"


def test_decorator_branch_and_a_different_command_line_branch_conflict(files: FlowFiles) -> None:
    info, _ = _start_info(files, "PinnedFlow", files.ok("pinned_flow.py", "run"))
    assert info["branch_name"] == "test.pinned"
    result = files("pinned_flow.py", "--branch", "other", "run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: You cannot pass branch as both a command-line argument and an attribute of @project."
    ]


@pytest.mark.parametrize(
    ("filename", "args", "message"),
    [
        ("proj_flow.py", ["--branch", "Bad-Name", "run"], "branch name must contain only lowercase alphanumeric"),
        ("plain_flow.py", ["--branch", "x", "run"], "--branch/--production need @project(name=...) on PlainFlow"),
    ],
)
def test_bad_branch_options_are_refused_in_one_line(files: FlowFiles, filename: str, args: list,
                                                    message: str) -> None:  # fmt: skip
    result = files(filename, *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_dag_id_holds_project_and_branch(files: FlowFiles, airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    folder = files.folder / "dags"
    folder.mkdir()
    shutil.copy(files.folder / "proj_flow.py", folder)
    shutil.copy(files.folder / "pinned_flow.py", folder)
    monkeypatch.setenv("METAFLOW_BRANCH", "side_a")
    bag = DagBag(dag_folder=str(folder))
    assert not bag.import_errors, bag.import_errors
    assert sorted(bag.dag_ids) == ["demo.test.pinned.PinnedFlow", "demo.test.side_a.ProjFlow"]
    assert {"project:demo", "project_branch:test.side_a"} <= set(bag.get_dag("demo.test.side_a.ProjFlow").tags)
    monkeypatch.setenv("METAFLOW_PRODUCTION", "true")
    monkeypatch.delenv("METAFLOW_BRANCH")
    assert DagBag(dag_folder=str(folder / "proj_flow.py")).dag_ids == ["demo.prod.ProjFlow"]


def test_airflow_run_of_a_branch(dags_folder: Path, artifact_root: Path) -> None:
    (dags_folder / "compat_project_flow.py").write_text(project_flow("ProjAirFlow"))
    result = dags_test("demo.test.air.ProjAirFlow", env=airflow_env(METAFLOW_BRANCH="air"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    run = Flow("ProjAirFlow").latest_run
    assert run.successful
    assert {"project:demo", "project_branch:test.air"} <= run.tags
    assert run["start"].task["info"].data["project_flow_name"] == "demo.test.air.ProjAirFlow"
    assert run.data.branch_in_end == "test.air"
    assert run.data.items == ["a", "b"]  # the trigger form's text, split by the separator
    assert run.data.made_by == "demo.test.air.ProjAirFlow|made_by"  # evaluated at parse time
