"""IncludeFile paths given at trigger time are confined (issue 16, part 1).

Real files, real symlinks and FIFOs in a temporary flow folder; the flow itself runs through
``python flow.py run`` and ``airflow dags test``. The attack through the UI plugin is in
``tests/plugin/test_security_attack.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from airflow_ml_provider.dsl.parameters import IncludeFile, ParameterError
from tests.fixtures.airflow_local import ROOT, dags_test, run_flow_file

FLOW = ROOT / "tests" / "flows" / "include_rel_flow.py"
CONTENT = "hello from the flow's folder\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A flow folder: the flow file, its default input, one more allowed file, and a secret outside."""
    monkeypatch.delenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_ROOTS", raising=False)
    monkeypatch.delenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_MAX_MB", raising=False)
    flow_dir = tmp_path / "flows"
    (flow_dir / "include_rel_data").mkdir(parents=True)
    shutil.copy(FLOW, flow_dir / "include_rel_flow.py")
    (flow_dir / "include_rel_data" / "input.txt").write_text(CONTENT)
    (flow_dir / "include_rel_data" / "other.txt").write_text("another allowed file\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("FAKE_WORKER_SECRET=outside-the-roots\n")
    return flow_dir


def _param() -> IncludeFile:
    return IncludeFile("data", default="include_rel_data/input.txt")


def _refused(value: str, folder: Path) -> str:
    with pytest.raises(ParameterError) as err:
        _param().read(value, str(folder / "include_rel_flow.py"))
    return str(err.value)


def test_default_and_paths_inside_the_flow_folder_are_read(folder: Path) -> None:
    flow_file = str(folder / "include_rel_flow.py")
    param = _param()
    assert param.read("include_rel_data/input.txt", flow_file) == CONTENT
    assert param.read("include_rel_data/other.txt", flow_file) == "another allowed file\n"
    assert param.read(str(folder / "include_rel_data" / "other.txt"), flow_file) == "another allowed file\n"
    (folder / "include_rel_data" / "alias.txt").symlink_to(folder / "include_rel_data" / "other.txt")
    assert param.read("include_rel_data/alias.txt", flow_file) == "another allowed file\n"  # stays inside


@pytest.mark.parametrize("value", ["/etc/passwd", "/etc/hostname"])
def test_absolute_path_outside_is_refused_naming_parameter_and_roots(folder: Path, value: str) -> None:
    message = _refused(value, folder)
    assert message.startswith(f"IncludeFile 'data': path {value!r} is outside the allowed folders")
    assert f"{folder} (the flow's folder)" in message and "include_file_roots" in message


def test_dotdot_is_refused_even_when_it_lands_inside(folder: Path) -> None:
    assert "contains '..'" in _refused("../outside/secret.txt", folder)
    assert "contains '..'" in _refused("include_rel_data/../include_rel_data/input.txt", folder)


def test_symlink_leaving_the_roots_is_refused(folder: Path) -> None:
    (folder / "include_rel_data" / "escape.txt").symlink_to(folder.parent / "outside" / "secret.txt")
    (folder / "include_rel_data" / "etc").symlink_to("/etc")
    assert "leads outside the allowed folders through a symlink" in _refused("include_rel_data/escape.txt", folder)
    assert "through a symlink" in _refused("include_rel_data/etc/passwd", folder)


def test_proc_sys_dev_are_refused_even_when_roots_allow_everything(folder: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_ROOTS", "/")
    for value in ("/proc/self/environ", "/sys/kernel/hostname", "/dev/zero", "/dev/stdin"):
        assert "under /proc, /sys or /dev" in _refused(value, folder), value
    (folder / "include_rel_data" / "env").symlink_to("/proc/self/environ")
    assert "under /proc, /sys or /dev" in _refused("include_rel_data/env", folder)


def test_non_regular_files_are_refused_without_blocking(folder: Path) -> None:
    os.mkfifo(folder / "include_rel_data" / "pipe")  # opening a FIFO would block the step forever
    assert "is not a regular file" in _refused("include_rel_data/pipe", folder)
    assert "is not a regular file" in _refused("include_rel_data", folder)
    assert "cannot read 'include_rel_data/missing.txt'" in _refused("include_rel_data/missing.txt", folder)


def test_include_file_roots_allows_more_folders(folder: Path, monkeypatch) -> None:
    outside = folder.parent / "outside"
    secret = str(outside / "secret.txt")
    assert "outside the allowed folders" in _refused(secret, folder)
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_ROOTS", f"/nonexistent-root, {outside}")
    assert _param().read(secret, str(folder / "include_rel_flow.py")) == "FAKE_WORKER_SECRET=outside-the-roots\n"
    assert str(outside) in _refused("/etc/passwd", folder)  # the message lists the extra root too
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_ROOTS", "relative/folder")
    with pytest.raises(ValueError, match="include_file_roots must list absolute folders, not 'relative/folder'"):
        _param().read(secret, str(folder / "include_rel_flow.py"))


def test_size_cap_applies_to_every_path(folder: Path, monkeypatch) -> None:
    (folder / "include_rel_data" / "big.bin").write_bytes(b"x" * 3000)
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_MAX_MB", "0.002")  # 2097 bytes
    message = _refused("include_rel_data/big.bin", folder)
    assert "is 3,000 bytes, over the limit of 2,097 bytes ([ml_provider] include_file_max_mb)" in message
    big_default = IncludeFile("data", default="include_rel_data/big.bin")
    with pytest.raises(ParameterError, match="include_file_max_mb"):
        big_default.read("include_rel_data/big.bin", str(folder / "include_rel_flow.py"))
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_MAX_MB", "lots")
    with pytest.raises(ValueError, match="include_file_max_mb must be a positive number of MB, not 'lots'"):
        _param().read("include_rel_data/input.txt", str(folder / "include_rel_flow.py"))


def test_the_authors_absolute_default_keeps_working(folder: Path) -> None:
    secret = str(folder.parent / "outside" / "secret.txt")
    author = IncludeFile("data", default=secret)  # the author's code could read it anyway
    assert author.read(secret, str(folder / "include_rel_flow.py")).startswith("FAKE_WORKER_SECRET=")
    with pytest.raises(ParameterError, match="outside the allowed folders"):
        author.read("/etc/passwd", str(folder / "include_rel_flow.py"))


def test_binary_content_that_is_not_text_says_how_to_read_it(folder: Path) -> None:
    (folder / "include_rel_data" / "blob.bin").write_bytes(b"\xff\xfe\x00")
    assert "is not utf-8 text" in _refused("include_rel_data/blob.bin", folder)
    raw = IncludeFile("data", default="x", is_text=False)
    assert raw.read("include_rel_data/blob.bin", str(folder / "include_rel_flow.py")) == b"\xff\xfe\x00"


def test_flow_run_refuses_before_any_step_starts(folder: Path, tmp_path: Path, monkeypatch) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT", str(store))  # run_flow_file passes it on
    for value in ("/etc/passwd", "/proc/self/environ", "../outside/secret.txt"):
        result = run_flow_file(folder / "include_rel_flow.py", "run", "--data", value)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith("error: IncludeFile 'data': path ")
        assert "FAKE_WORKER_SECRET" not in result.stdout + result.stderr
    assert [p for p in store.rglob("*") if p.is_file()] == []  # nothing was started, so nothing stored
    ok = run_flow_file(folder / "include_rel_flow.py", "run", "--data", "include_rel_data/other.txt")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "read 21 characters" in ok.stdout + ok.stderr


def test_airflow_trigger_conf_is_confined(dags_folder: Path, artifact_root: Path) -> None:
    """``airflow dags test IncludeRel -c '{"data": "/etc/passwd"}'`` fails in start, before user code."""
    shutil.copy(FLOW, dags_folder / "include_rel_flow.py")
    (dags_folder / "include_rel_data").mkdir(exist_ok=True)
    (dags_folder / "include_rel_data" / "input.txt").write_text(CONTENT)
    (dags_folder / "include_rel_data" / "other.txt").write_text("another allowed file\n")
    passwd = Path("/etc/passwd").read_bytes()
    result = dags_test("IncludeRel", {"data": "/etc/passwd"})
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "IncludeFile 'data': path '/etc/passwd' is outside the allowed folders" in log, log[-6000:]
    assert "root:x:0:0" not in log
    leaked = [p for p in artifact_root.rglob("*") if p.is_file() and passwd[:64] in p.read_bytes()]
    assert leaked == []
    runs = sorted((artifact_root / "IncludeRel" / "runs").iterdir())
    start = runs[-1] / "steps" / "start" / "0"
    assert not any("user_code_ran" in p.read_text() for p in start.glob("*.json"))

    ok = dags_test("IncludeRel", {"data": "include_rel_data/other.txt"})
    assert ok.returncode == 0, (ok.stdout + ok.stderr)[-4000:]
    assert "read 21 characters" in ok.stdout + ok.stderr


def test_pods_get_the_confinement_options_they_enforce(monkeypatch, airflow_home) -> None:
    """A step in a pod reads no airflow.cfg: the worker's non-default options travel in its env."""
    from types import SimpleNamespace

    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_ROOTS", "/srv/ml-inputs")
    monkeypatch.delenv("AIRFLOW__ML_PROVIDER__INCLUDE_FILE_MAX_MB", raising=False)
    dag = DagBag(dag_folder=str(ROOT / "tests" / "flows" / "pod_flow.py")).dags["PodFlow"]
    start = dag.task_dict["start"]
    ti = SimpleNamespace(dag_id=start.dag_id, task_id="start", try_number=1, map_index=-1)
    run = SimpleNamespace(run_type="manual", triggering_user_name="alice", conf={})
    ctx = {"ti": ti, "run_id": "manual__2026-12-03T10:00:00+00:00_inc", "dag_run": run, "params": {}, "dag": dag}
    start.prepare(ctx, "kubernetes")
    env = {e.name: e.value for e in start.build_pod_request_obj(ctx, dry_run=True).spec.containers[0].env}
    assert env["AIRFLOW__ML_PROVIDER__INCLUDE_FILE_ROOTS"] == "/srv/ml-inputs"
    assert "AIRFLOW__ML_PROVIDER__INCLUDE_FILE_MAX_MB" not in env  # the default: the pod has it already
