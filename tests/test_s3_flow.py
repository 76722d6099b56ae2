"""An example flow end to end under ``airflow dags test`` with ``artifact_root`` on S3 (moto_server over HTTP)."""

from __future__ import annotations

import json

import boto3

from tests.fixtures.airflow_local import airflow_env, dags_test
from tests.fixtures.moto import new_bucket_name


def test_foreach_flow_on_s3(dags_folder, moto_server, monkeypatch):
    bucket = new_bucket_name("flows")
    boto3.client(
        "s3", endpoint_url=moto_server, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    connection = {
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"},
    }  # fmt: skip
    root = f"s3://{bucket}/ml"
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root, AIRFLOW_CONN_AWS_DEFAULT=json.dumps(connection))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(key, None)  # the connection alone must be enough
    result = dags_test("ForeachFlow", {"rows": 200}, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert "testing" not in log.replace("AWS_ACCESS_KEY_ID", "")  # the secret never reaches the task log

    # the client reads the S3 run exactly as a local one
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    from airflow_ml_provider.client import Flow, get_metadata, set_artifact_root

    set_artifact_root(root)
    try:
        assert get_metadata() == f"s3@{root}"
        run = Flow("ForeachFlow").latest_successful_run
        assert run is not None and run.parameters == {"rows": 200}
        assert list(run.data.summary.region) == ["north", "south", "east", "west"]
        assert int(run.data.summary["count"].sum()) == 200
        assert [t.data.region for t in run["summarise"].tasks()] == ["north", "south", "east", "west"]
        s3 = boto3.client("s3", endpoint_url=moto_server)
        keys = s3.list_objects_v2(Bucket=bucket, Prefix="ml/ForeachFlow/data/")
        assert keys["KeyCount"] > 0
    finally:
        set_artifact_root(None)
