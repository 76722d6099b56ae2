"""The Runner API and ``--run-id-file`` / Metaflow's top-level options on ``python flow.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from airflow_ml_provider import Runner
from tests.metaflow_compat.helpers import FlowFiles, run_id_of

RUNNER_FLOW = """
import os

from airflow_ml_provider import FlowSpec, Parameter, current, step


class RunnerFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.1)
    config = Parameter("config", default={"k": 1})

    @step
    def start(self):
        path = os.environ.get("RUN_ID_FILE")
        self.id_in_file = open(path).read() if path else None
        self.run_id_seen = current.run_id
        self.next(self.train)

    @step
    def train(self):
        if os.environ.get("FAIL_TRAIN") == "1":
            raise RuntimeError("train failed on purpose")
        self.model = self.alpha * 2
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RunnerFlow()
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> FlowFiles:
    files = FlowFiles(tmp_path_factory.mktemp("runner"), tmp_path_factory.mktemp("artifacts"))
    files.write("runner_flow.py", RUNNER_FLOW)
    return files


def test_run_returns_the_finished_run(files: FlowFiles) -> None:
    runner = Runner(files.folder / "runner_flow.py", show_output=False, env=files.env())
    with runner.run(alpha=0.5, config={"k": 2}, tags=["from-runner"]) as running, files.store():
        assert running.status == "successful" and running.returncode == 0
        run = running.run
        assert run.successful and "from-runner" in run.tags
        assert run.data.model == 1.0 and run["start"].task["config"].data == {"k": 2}
        assert f"run {run.id} finished" in running.stdout


def test_failed_run_then_resume(files: FlowFiles, tmp_path: Path) -> None:
    runner = Runner(files.folder / "runner_flow.py", show_output=False, env=files.env(FAIL_TRAIN="1"))
    failed = runner.run()
    assert failed.status == "failed" and failed.returncode == 1
    assert "train failed on purpose" in failed.stdout + failed.stderr
    with files.store():
        assert not failed.run.successful
        origin = failed.run.id
    id_file = tmp_path / "resumed-id"
    resumed = Runner(files.folder / "runner_flow.py", show_output=False, env=files.env()).resume(
        origin_run_id=origin, run_id_file=str(id_file)
    )
    assert resumed.status == "successful", resumed.stdout[-3000:] + resumed.stderr[-3000:]
    with files.store():
        assert resumed.run.id != origin and resumed.run.data.model == pytest.approx(0.2)
        assert resumed.run["start"].task["run_id_seen"].data == origin  # start was reused, not rerun
        assert id_file.read_text() == resumed.run.id  # --run-id-file on resume


def test_async_run_returns_before_the_run_ends(files: FlowFiles) -> None:
    async def launch() -> tuple[str, str, object]:
        runner = Runner(files.folder / "runner_flow.py", show_output=False, env=files.env())
        executing = await runner.async_run(alpha=1.5)
        first = executing.status
        await executing.wait(timeout=300)
        return first, executing.status, executing

    first, last, executing = asyncio.run(launch())
    assert first == "running" and last == "successful"
    with files.store():
        assert executing.run.data.model == 3.0


def test_run_id_file_is_written_before_the_first_step(files: FlowFiles, tmp_path: Path) -> None:
    path = tmp_path / "run-id"
    run_id = files.ok("runner_flow.py", "run", "--run-id-file", str(path), RUN_ID_FILE=str(path))
    assert path.read_text() == run_id
    with files.store():
        start = files.run("RunnerFlow", run_id)["start"].task
        assert start["id_in_file"].data == start["run_id_seen"].data == run_id


def test_metaflow_top_level_options_are_accepted(files: FlowFiles) -> None:
    result = files(
        "runner_flow.py", "--no-pylint", "--metadata", "local", "--datastore", "local", "--environment", "local",
        "--quiet", "run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[ml-provider]" not in result.stdout  # --quiet: no runner progress lines


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        (["--metadata", "service"], "--metadata service: not supported; run records live in the artifact store"),
        (["--datastore", "s3"], "--datastore s3: the artifact root is local"),
        (["--environment", "conda"], "--environment conda: not supported; a step's packages come from its image"),
    ],
)
def test_unsupported_top_level_options_are_refused_in_one_line(files: FlowFiles, option: list, reason: str) -> None:
    result = files("runner_flow.py", *option, "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {reason}"), result.stderr
    assert not result.stdout  # nothing ran


def test_run_id_of_helper_sees_plain_runs(files: FlowFiles) -> None:
    result = files("runner_flow.py", "run")
    assert run_id_of(result).startswith("local__")
