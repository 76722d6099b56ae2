"""Bad input to either command line is one line on stderr and a non-zero exit, never a traceback.

``python flow.py ...`` and ``airflow-ml-provider ...`` run as a user runs them (subprocesses), on a
local artifact root and on a real S3 endpoint (moto_server) whose bucket does not exist.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.airflow_local import VENV_BIN, airflow_env
from tests.fixtures.moto import new_bucket_name

FLOW = """
from airflow_ml_provider import FlowSpec, step


class CliErrorFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CliErrorFlow()
"""


def one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    """The single stderr line of a refused command (asserting there is exactly one)."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def flow_cli(folder: Path, root: str, *args: str) -> subprocess.CompletedProcess:
    (folder / "cli_error_flow.py").write_text(textwrap.dedent(FLOW))
    return subprocess.run(
        [sys.executable, str(folder / "cli_error_flow.py"), *args],
        env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root), capture_output=True, text=True,
        timeout=300, cwd=folder,
    )  # fmt: skip


def tool_cli(root: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "airflow-ml-provider"), *args],
        env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--max-workers", "-1"], "argument --max-workers: expected a whole number of at least 1, got '-1'"),
        (["resume", "--max-workers", "0"], "argument --max-workers: expected a whole number of at least 1, got '0'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=["run-max-workers-negative", "resume-max-workers-zero", "unknown-command"],
)
def test_flow_cli_refuses_bad_arguments_in_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    result = flow_cli(tmp_path, str(tmp_path / "root"), *args)
    line = one_line_error(result, 2)
    assert line.startswith("python cli_error_flow.py") and expected in line, line
    assert not (tmp_path / "root" / "CliErrorFlow").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--run-id", "../x"], "error: invalid run id '../x'"),
        (["resume", "nope"], "error: no step 'nope' in CliErrorFlow: steps are start, end"),
    ],
    ids=["run-id", "resume-step"],
)
def test_flow_cli_refuses_bad_values_before_any_step(tmp_path: Path, args: list[str], expected: str) -> None:
    result = flow_cli(tmp_path, str(tmp_path / "root"), *args)
    assert one_line_error(result, 2).startswith(expected)
    assert "[start/" not in result.stdout


def test_flow_cli_refuses_an_artifact_root_it_cannot_write_before_any_step(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    result = flow_cli(tmp_path, str(tmp_path / "a_file" / "root"), "run")
    line = one_line_error(result, 1)
    assert line == f"error: cannot use the artifact root: Not a directory: {tmp_path / 'a_file' / 'root'}"
    assert "[start/" not in result.stdout


@pytest.mark.parametrize("args", [["run"], ["resume", "--origin-run-id", "some-run"]], ids=["run", "resume"])
def test_flow_cli_names_a_missing_bucket_in_one_line(tmp_path: Path, s3_env: str, args: list[str]) -> None:
    bucket = new_bucket_name("missing")
    result = flow_cli(tmp_path, f"s3://{bucket}/ml", *args)
    line = one_line_error(result, 1)
    assert line.startswith(f"error: bucket '{bucket}' does not exist") and f"s3://{bucket}/ml" in line, line
    assert "[start/" not in result.stdout, "no step may start on a store that does not exist"


@pytest.mark.parametrize("args", [["runs", "CliErrorFlow"], ["show", "CliErrorFlow/some-run"]], ids=["runs", "show"])
def test_tool_cli_names_a_missing_bucket_in_one_line(s3_env: str, args: list[str]) -> None:
    bucket = new_bucket_name("missing")
    line = one_line_error(tool_cli(f"s3://{bucket}/ml", *args), 1)
    assert line.startswith(f"error: bucket '{bucket}' does not exist"), line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serve", "svc.py", "--port", "70000"], "argument --port: expected a TCP port from 0 to 65535, got '70000'"),
        (["serve", "svc.py", "--workers", "0"], "argument --workers: expected a whole number of at least 1, got '0'"),
        (["serve", "svc.py", "--poll-interval", "-1"], "argument --poll-interval: expected a number of seconds"),
        (["lsit"], "invalid choice: 'lsit'"),
    ],
    ids=["port", "workers", "poll-interval", "unknown-command"],
)
def test_tool_cli_refuses_bad_arguments_in_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    line = one_line_error(tool_cli(str(tmp_path / "root"), *args), 2)
    assert line.startswith("airflow-ml-provider") and expected in line and "--help" in line, line


@pytest.mark.parametrize("command", ["list", "view"])
def test_tool_card_cli_resolves_a_dag_id_and_names_what_is_missing_in_one_line(tmp_path: Path, command: str) -> None:
    """``card view|list DAG_ID/...`` reads the DAG index (it once died importing a removed helper)."""
    from airflow_ml_provider.datastore import LocalBackend
    from airflow_ml_provider.datastore.flow_store import write_dag_index

    root = tmp_path / "root"
    write_dag_index(LocalBackend(str(root)), "renamed_dag", "CliErrorFlow")
    line = one_line_error(tool_cli(str(root), "card", command, "renamed_dag/some-run/start"), 1)
    assert line == "error: no step CliErrorFlow/some-run/start", line
    line = one_line_error(tool_cli(str(root), "card", command, "bad id!/some-run/start"), 1)
    assert line.startswith("error: invalid flow name 'bad id!'"), line
