"""Credentials stay secret (issue 16, part 3) on the real paths: ``airflow dags test`` on an S3
root (moto_server over HTTP) and the pod a step would be sent as.

A step given the S3 connection's credentials stores its whole environment. The credentials may
be in that artifact's own blob (the user stored them), but nowhere else: not in the task log,
not in any metadata object (run record, attempt records, previews), not in any other blob.
"""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import boto3

from tests.fixtures.airflow_local import ROOT, airflow_env, dags_test
from tests.fixtures.moto import new_bucket_name

FLOWS = ROOT / "tests" / "flows"
ACCESS_KEY = "AKIAMLPROVIDERTEST01"
SECRET_KEY = "sEcReT-key-never-shown-7c1d2e"


def _connection(endpoint: str) -> str:
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    return json.dumps({"conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY, "extra": extra})


def _bucket(endpoint: str) -> str:
    name = new_bucket_name("secrets")
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    ).create_bucket(Bucket=name)  # fmt: skip
    return name


def test_s3_run_keeps_credentials_out_of_logs_metadata_and_previews(dags_folder, moto_server) -> None:
    shutil.copy(FLOWS / "env_dump_flow.py", dags_folder / "env_dump_flow.py")
    bucket = _bucket(moto_server)
    env = airflow_env(
        AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=f"s3://{bucket}/ml", AIRFLOW_CONN_AWS_DEFAULT=_connection(moto_server)
    )
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        env.pop(key, None)  # the step gets them from the connection, as on a worker
    result = dags_test("EnvDumpFlow", env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert "the step saw" in log
    assert SECRET_KEY not in log

    s3 = boto3.client(
        "s3", endpoint_url=moto_server, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )  # fmt: skip
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="ml/"):
        for item in page.get("Contents", []):
            objects[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    stdout = next(v for k, v in objects.items() if "/steps/start/1/" in k and k.endswith("0.stdout.log"))
    assert b"careless debug line: AWS_SECRET_ACCESS_KEY=***" in stdout  # the stored log, shown in the UI
    metadata = {k: v for k, v in objects.items() if k.endswith(".json")}
    assert any(k.endswith("/run.json") for k in metadata)
    assert [k for k, v in metadata.items() if SECRET_KEY.encode() in v] == []

    attempt = next(json.loads(v) for k, v in metadata.items() if "/steps/start/1/" in k and k.endswith("/0.json"))
    records = attempt["artifacts"]
    user_blobs = {records[name]["key"] for name in ("env", "env_text", "aws_env", "aws_text")}
    holding = {k.rsplit("/", 1)[-1] for k, v in objects.items() if SECRET_KEY.encode() in v}
    assert holding == user_blobs  # only the step's own artifacts, which the user chose to store
    aws = json.loads(records["aws_env"]["preview"]["text"])
    assert aws["AWS_SECRET_ACCESS_KEY"] == "***" and aws["AWS_ACCESS_KEY_ID"] == "***"
    assert aws["AWS_ENDPOINT_URL_S3"] == moto_server  # not a secret: shown
    text = records["aws_text"]["preview"]["text"]
    assert "AWS_SECRET_ACCESS_KEY=***" in text and f"AWS_ENDPOINT_URL_S3={moto_server}" in text
    for name in ("env", "env_text", "aws_env", "aws_text"):
        assert ACCESS_KEY not in json.dumps(records[name]["preview"]), name


def test_pod_spec_carries_secret_references_never_values(moto_server, monkeypatch, airflow_home) -> None:
    bucket = _bucket(moto_server)
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT", f"s3://{bucket}/ml")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", _connection(moto_server))
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__KUBERNETES_SECRETS", "ml-s3-credentials")
    from airflow.dag_processing.dagbag import DagBag
    from kubernetes.client import ApiClient

    dag = DagBag(dag_folder=str(FLOWS / "pod_flow.py")).dags["PodFlow"]
    start = dag.task_dict["start"]
    ti = SimpleNamespace(dag_id=start.dag_id, task_id="start", try_number=1, map_index=-1)
    run = SimpleNamespace(run_type="manual", triggering_user_name="alice", conf={})
    ctx = {"ti": ti, "run_id": "manual__2026-12-03T10:00:00+00:00_sec", "dag_run": run, "params": {}, "dag": dag}
    start.prepare(ctx, "kubernetes")
    pod = start.build_pod_request_obj(ctx, dry_run=True)
    spec = json.dumps(ApiClient().sanitize_for_serialization(pod))
    assert SECRET_KEY not in spec and ACCESS_KEY not in spec
    container = pod.spec.containers[0]
    assert [s.secret_ref.name for s in container.env_from] == ["ml-s3-credentials"]
    names = {e.name for e in container.env}
    assert not names & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
    assert moto_server in spec  # the endpoint is public configuration and is there
