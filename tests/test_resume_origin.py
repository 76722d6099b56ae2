"""Resume checks its origin before it creates anything (``runtime/resume.py``).

A mistyped origin run id, from ``python flow.py resume --origin-run-id`` or from the trigger conf
``resume_from`` of an Airflow run, is a one-line error naming the flow, the id and the artifact
root; the store holds no new run afterwards (no phantom failed run whose reason is lost).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_ml_provider.datastore import FlowDatastore, get_backend
from tests.fixtures.airflow_local import airflow_env, dags_test

RESUME_FLOW = """
# Airflow DAG
from airflow_ml_provider import FlowSpec, step


class ResumeOriginFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        print("end saw", self.x)


if __name__ == "__main__":
    ResumeOriginFlow()
"""


def _flow(cwd: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(cwd / "resume_origin_flow.py"), *args],
        env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root)),
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip


def _runs(root: Path) -> list[str]:
    runs = root / "ResumeOriginFlow" / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.exists() else []


def test_resume_from_an_unknown_run_id_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "resume_origin_flow.py").write_text(textwrap.dedent(RESUME_FLOW))
    root = tmp_path / "root"
    first = _flow(tmp_path, root, "resume", "--origin-run-id", "nope")
    assert first.returncode == 2, first.stdout + first.stderr
    assert first.stderr.strip().splitlines() == [
        f"error: cannot resume: flow ResumeOriginFlow has no run 'nope' in {root}"
    ]
    assert "Traceback" not in first.stdout + first.stderr
    assert _runs(root) == []
    # with a real run in the store, a wrong id still creates nothing and names the same root
    ok = _flow(tmp_path, root, "run")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    before = _runs(root)
    assert len(before) == 1
    again = _flow(tmp_path, root, "resume", "--origin-run-id", "manual__2026-01-01T00:00:00+00:00")
    assert again.returncode == 2
    assert "has no run 'manual__2026-01-01T00:00:00+00:00' in " + str(root) in again.stderr
    assert _runs(root) == before
    # and the right id resumes, reusing the origin's tasks
    resumed = _flow(tmp_path, root, "resume", "--origin-run-id", before[0])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"reused {before[0]}/start/" in resumed.stdout
    assert len(_runs(root)) == 2


def test_airflow_conf_resume_from_an_unknown_run_fails_the_start_task_and_creates_nothing(
    dags_folder: Path, artifact_root: Path, tmp_path: Path
) -> None:
    (tmp_path / "resume_origin_flow.py").write_text(textwrap.dedent(RESUME_FLOW))
    shutil.copy(tmp_path / "resume_origin_flow.py", dags_folder / "resume_origin_flow.py")
    before = _runs(artifact_root)
    result = dags_test("ResumeOriginFlow", {"resume_from": "nope"})
    output = result.stdout + result.stderr
    assert result.returncode != 0 or "state=failed" in output, output[-3000:]
    assert f"cannot resume: flow ResumeOriginFlow has no run 'nope' in {artifact_root}" in output, output[-3000:]
    assert _runs(artifact_root) == before, "a run record was created for a resume that cannot start"


def test_airflow_conf_resume_step_is_checked_before_anything_is_created(
    dags_folder: Path, artifact_root: Path, tmp_path: Path
) -> None:
    (tmp_path / "resume_origin_flow.py").write_text(textwrap.dedent(RESUME_FLOW))
    shutil.copy(tmp_path / "resume_origin_flow.py", dags_folder / "resume_origin_flow.py")
    origin = _flow(tmp_path, artifact_root, "run")  # a real origin in the session's store
    assert origin.returncode == 0, origin.stdout + origin.stderr
    before = _runs(artifact_root)
    cases = {
        "cannot resume from step 'nope': steps of ResumeOriginFlow are start, end": {
            "resume_from": origin.stdout.split(" run ", 1)[1].split()[0],
            "resume_step": "nope",
        },
        "trigger conf 'resume_step' needs 'resume_from'": {"resume_step": "end"},
    }
    for message, conf in cases.items():
        result = dags_test("ResumeOriginFlow", conf)
        output = result.stdout + result.stderr
        assert result.returncode != 0 or "state=failed" in output, output[-3000:]
        assert message in output, output[-3000:]
        assert _runs(artifact_root) == before, f"{conf} created a run record"


BLOB_FLOW = """
from airflow_ml_provider import FlowSpec, step


class ResumeBlobFlow(FlowSpec):
    @step
    def start(self):
        self.x = list(range(1000, 1100))
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.x)


if __name__ == "__main__":
    ResumeBlobFlow()
"""


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_resume_does_not_reuse_an_attempt_whose_blob_is_damaged(tmp_path: Path, damage: str) -> None:
    (tmp_path / "resume_blob_flow.py").write_text(textwrap.dedent(BLOB_FLOW))
    root = tmp_path / "root"

    def flow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(tmp_path / "resume_blob_flow.py"), *args],
            env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root)),
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip

    first = flow("run")
    assert first.returncode == 0, first.stdout + first.stderr
    (origin,) = (p.name for p in (root / "ResumeBlobFlow" / "runs").iterdir())
    store = FlowDatastore("ResumeBlobFlow", get_backend(str(root)))
    key = store.latest_attempt(origin, "start", "1")["artifacts"]["x"]["key"]
    blob = root / store.blob_path(key)
    if damage == "corrupt":
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0x01
        blob.write_bytes(bytes(data))
    else:
        blob.unlink()
    resumed = flow("resume", "--origin-run-id", origin)
    notes = [line for line in resumed.stdout.splitlines() if "not reusing" in line]
    assert len(notes) == 1, resumed.stdout + resumed.stderr
    assert f"not reusing start/1 of run {origin}, running it again: artifact 'x'" in notes[0]
    assert key in notes[0] and ("corrupt" if damage == "corrupt" else "missing") in notes[0]
    assert "reused" not in resumed.stdout, "end must run again: its parent was not reused"
    (new_run,) = (p.name for p in (root / "ResumeBlobFlow" / "runs").iterdir() if p.name != origin)
    start = store.latest_attempt(new_run, "start", "1")
    assert start["status"] == "success" and not start.get("cloned_from")
    # A corrupt blob was deleted when resume found it, so the rerun stored the same bytes again:
    # the resumed run, and the origin run that shares the key, read good values.
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with_client = subprocess.run(
        [sys.executable, "-c", (
            "from airflow_ml_provider.client import Run, namespace; namespace(None); "
            f"r = Run('ResumeBlobFlow/{new_run}'); print(r.data.total, r['start'].task.data.x[:2])"
        )],
        env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root)), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert with_client.returncode == 0, with_client.stderr[-2000:]
    assert with_client.stdout.split() == [str(sum(range(1000, 1100))), "[1000,", "1001]"]


def test_resume_on_s3_reuses_the_origins_steps_with_warm_start(tmp_path: Path, bucket: str) -> None:
    """The reported failure: resuming a finished run on S3 with warm start (ReferenceError at step exit)."""
    (tmp_path / "resume_origin_flow.py").write_text(textwrap.dedent(RESUME_FLOW))
    root = f"s3://{bucket}/ml"

    def flow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(tmp_path / "resume_origin_flow.py"), *args],
            env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root, AIRFLOW__ML_PROVIDER__LOCAL_WARM_START="True"),
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip

    first = flow("run")
    assert first.returncode == 0, first.stdout + first.stderr
    origin = first.stdout.split(" run ", 1)[1].split()[0]
    resumed = flow("resume", "--origin-run-id", origin)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-3000:]
    assert "ReferenceError" not in output and "Traceback" not in output, output[-3000:]
    assert f"reused {origin}/start/1/0" in resumed.stdout and f"reused {origin}/end/2/0" in resumed.stdout
