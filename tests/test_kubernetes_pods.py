"""Without a cluster: the pods the operator would send, run as local processes against S3 (moto_server).

The start pod's exact command and environment produce the step's artifacts in S3; a mapped
body pod then consumes them. Credentials reach the process as they would from a Kubernetes
secret (plain AWS_* variables), never through the pod spec.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from tests.fixtures.airflow_local import ROOT, airflow_env
from tests.fixtures.moto import new_bucket_name

FLOWS = ROOT / "tests" / "flows"
RUN_ID = "manual__2026-11-27T10:00:00+00:00_k8s"


@pytest.fixture(scope="module")
def s3_root(moto_server):
    bucket = new_bucket_name("pods")
    boto3.client(
        "s3", endpoint_url=moto_server, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    return f"s3://{bucket}/ml", moto_server


def _operator(dag, task_id: str, foreach_task_id: str | None = None):
    task = dag.task_dict[task_id]
    return task.unmap({"foreach_task_id": foreach_task_id}) if foreach_task_id is not None else task


def _context(op, map_index: int = -1) -> dict:
    ti = SimpleNamespace(dag_id=op.dag_id, task_id=op.task_id, try_number=1, map_index=map_index)
    dag_run = SimpleNamespace(run_type="manual", triggering_user_name="alice", conf={})
    return {"ti": ti, "run_id": RUN_ID, "dag_run": dag_run, "params": {}, "dag": op.dag}


def _run_pod(pod, secret_env: dict[str, str]) -> subprocess.CompletedProcess:
    container = pod.spec.containers[0]
    env = {e.name: e.value for e in container.env}
    assert not set(env) & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # never in the pod spec
    proc_env = airflow_env(**{**env, **secret_env})
    for key in ("AIRFLOW_CONN_AWS_DEFAULT",):
        proc_env.pop(key, None)
    return subprocess.run(
        container.command + container.args, env=proc_env, capture_output=True, text=True, timeout=180,
        cwd=str(Path(sys.executable).parent),
    )  # fmt: skip


def test_pod_commands_run_against_s3_and_chain(s3_root, monkeypatch, airflow_home):
    root, endpoint = s3_root
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT", root)
    secret_env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint,
    }  # fmt: skip
    for key, value in secret_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__KUBERNETES_SECRETS", "ml-s3")
    connection = {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(FLOWS / "pod_flow.py"))
    dag = bag.dags["PodFlow"]

    start = _operator(dag, "start")
    ctx = _context(start)
    start.prepare(ctx, "kubernetes")
    pod = start.build_pod_request_obj(ctx, dry_run=True)
    args = pod.spec.containers[0].args
    assert "--code-package" in args  # the pod runs the stored code, not a path on the worker
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT"] == root
    assert env["AWS_ENDPOINT_URL_S3"] == endpoint  # the connection's endpoint: public, not a secret
    assert [s.secret_ref.name for s in pod.spec.containers[0].env_from] == ["ml-s3"]
    done = _run_pod(pod, secret_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert start.control_value(start.invocation(ctx), {}) == ["2-0", "2-1"]

    train = _operator(dag, "train", "2-1")
    tctx = _context(train, map_index=1)
    train.prepare(tctx, "kubernetes")
    tpod = train.build_pod_request_obj(tctx, dry_run=True)
    assert [s.secret_ref.name for s in tpod.spec.containers[0].env_from] == ["ml-s3", "s3-creds"]
    assert (
        tpod.spec.containers[0].args[tpod.spec.containers[0].args.index("--code-package") + 1]
        == (args[args.index("--code-package") + 1])
    )
    done = _run_pod(tpod, secret_env)
    assert done.returncode == 0, done.stdout + done.stderr

    from airflow_ml_provider.client import Task, default_namespace, namespace, set_artifact_root

    set_artifact_root(root)
    namespace(None)  # the run was triggered by alice
    try:
        task = Task(f"PodFlow/{start.invocation(ctx).run_id}/train/2-1")
        assert task.data.mode == "fast" and task.data.items == [1, 2]
        assert task.metadata["foreach_stack"][0]["index"] == 1
        run_meta = task._store.read_run(task.run_id)
        assert run_meta["code_package"] == args[args.index("--code-package") + 1]
        listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(
            Bucket=root.split("/")[2], Prefix="ml/PodFlow/runs/"
        )
        assert any(o["Key"].endswith("train/2-1/0.json") for o in listing.get("Contents", []))
        assert "testing" not in json.dumps(task.metadata)
    finally:
        set_artifact_root(None)
        default_namespace()
