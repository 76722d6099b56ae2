"""The slim step image's Python environment runs a flow's steps with no Airflow installed.

The environment is built the way docker/Dockerfile's ``step`` target builds it
(``-c constraints.txt -r docker/requirements-step.txt`` then ``--no-deps .``), with uv, once per
test session. Each step then runs as its pod would: the command and environment the real
operator puts in the pod, with the slim environment's ``python``, from a folder outside the
repository, against an S3 artifact root on moto_server; the code comes from the run's code package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
import tomllib
from packaging.requirements import Requirement

from tests.fixtures.airflow_local import ROOT
from tests.fixtures.moto import new_bucket_name

REQUIREMENTS = ROOT / "docker" / "requirements-step.txt"
UV = Path(sys.executable).parent / "uv"
RUN_ID = "manual__2026-12-03T10:00:00+00:00_slim"


def _name(spec: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(spec).name.lower())


def _site_packages_mb(python: Path) -> float:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    total = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file() and not f.is_symlink())
    return total / 1e6


@pytest.fixture(scope="session")
def slim_python() -> Path:
    """A venv with only the step image's packages (built once per session, removed at the end)."""
    folder = Path(tempfile.mkdtemp(prefix="slim-step-env-"))
    venv = folder / "venv"
    python = venv / "bin" / "python"

    def uv(*args: str) -> None:
        done = subprocess.run([str(UV), *args], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr

    uv("venv", "-q", "--python", sys.executable, str(venv))
    uv("pip", "install", "-q", "--python", str(python), "-c", str(ROOT / "constraints.txt"), "-r", str(REQUIREMENTS))
    uv("pip", "install", "-q", "--python", str(python), "--no-deps", str(ROOT))
    yield python
    shutil.rmtree(folder, ignore_errors=True)


def test_requirements_cover_every_dependency_but_airflow():
    """A dependency added to pyproject must reach the step image too (unless it is Airflow's)."""
    declared = {_name(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    lines = [ln.strip() for ln in REQUIREMENTS.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    listed = {_name(ln) for ln in lines}
    assert declared - listed == {d for d in declared if d.startswith("apache-airflow")}
    assert not {n for n in listed if n.startswith("apache-airflow")}
    assert {"pandas", "pyarrow", "boto3"} <= listed


def test_slim_environment_has_the_runtime_and_no_airflow(slim_python):
    probe = (
        "import importlib.util as u, airflow_ml_provider.runtime, pandas, pyarrow, boto3, xxhash;"
        "import airflow_ml_provider.cli, airflow_ml_provider.service.app, airflow_ml_provider.service.server;"
        "print(u.find_spec('airflow') is None, u.find_spec('kubernetes') is None)"
    )
    done = subprocess.run([str(slim_python), "-c", probe], capture_output=True, text=True, cwd="/", timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    cards = (  # the step image renders cards itself (the `cards` extra): Markdown and a chart to SVG
        "from airflow_ml_provider.cards import Markdown, VegaChart;"
        "from airflow_ml_provider.cards.layout import render_card;"
        "spec = {'data': {'values': [{'a': 1}]}, 'mark': 'bar', 'encoding': {'x': {'field': 'a'}}};"
        "print(render_card('blank', [Markdown('**hi**'), VegaChart(spec)], {}))"
    )
    done = subprocess.run([str(slim_python), "-c", cards], capture_output=True, text=True, cwd="/", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "<strong>hi</strong>" in done.stdout and "data:image/svg+xml;base64," in done.stdout
    assert 'class="error"' not in done.stdout
    full = _site_packages_mb(Path(sys.executable))
    slim = _site_packages_mb(slim_python)
    print(f"site-packages: full {full:.0f} MB, slim step {slim:.0f} MB")
    assert slim < full / 2


@pytest.fixture(scope="module")
def s3_root(moto_server):
    bucket = new_bucket_name("slim")
    boto3.client(
        "s3", endpoint_url=moto_server, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    return f"s3://{bucket}/ml", moto_server


def _pod(dag, task_id: str, foreach_task_id: str | None = None, map_index: int = -1):
    task = dag.task_dict[task_id]
    op = task.unmap({"foreach_task_id": foreach_task_id}) if foreach_task_id is not None else task
    ti = SimpleNamespace(dag_id=op.dag_id, task_id=op.task_id, try_number=1, map_index=map_index)
    dag_run = SimpleNamespace(run_type="manual", triggering_user_name="alice", conf={})
    context = {"ti": ti, "run_id": RUN_ID, "dag_run": dag_run, "params": {}, "dag": dag}
    op.prepare(context, "kubernetes")
    with op._no_xcom_sidecar():
        return op.build_pod_request_obj(context, dry_run=True)


def _run_in_slim(python: Path, pod, secret_env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """The pod's command and env in the slim environment; credentials as a Kubernetes secret gives them."""
    container = pod.spec.containers[0]
    assert container.command == ["python"]
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(cwd), **secret_env}
    env.update({e.name: e.value for e in container.env})
    return subprocess.run(
        [str(python), *container.args], env=env, capture_output=True, text=True, timeout=300, cwd=str(cwd)
    )


def test_a_flow_runs_step_by_step_in_the_slim_environment(slim_python, s3_root, monkeypatch, airflow_home, tmp_path):
    root, endpoint = s3_root
    secret_env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint,
    }  # fmt: skip
    for key, value in secret_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT", root)
    connection = {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "tests" / "flows" / "pod_flow.py")).dags["PodFlow"]
    tasks = [("start", None, -1), ("train", "2-0", 0), ("train", "2-1", 1), ("join", None, -1), ("end", None, -1)]
    pods = []
    for task_id, foreach_task_id, map_index in tasks:  # each pod built when its upstream has run
        pods.append(_pod(dag, task_id, foreach_task_id, map_index))
        done = _run_in_slim(slim_python, pods[-1], secret_env, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "success" in done.stdout
    assert len({p.spec.containers[0].args[-1] for p in pods}) == 1  # one code package for the run

    from airflow_ml_provider.client import Run, default_namespace, namespace, set_artifact_root

    set_artifact_root(root)
    namespace(None)  # the run was triggered by alice
    try:
        run = Run(f"PodFlow/{pods[0].spec.containers[0].args[pods[0].spec.containers[0].args.index('--run-id') + 1]}")
        assert run.successful
        assert run["join"].task.data.modes == ["fast", "fast"]
        assert run["train"].task.metadata["execution"]["mode"] == "kubernetes"
    finally:
        set_artifact_root(None)
        default_namespace()
