"""Where the S3 client's credentials and endpoint come from, each path in its own process.

Inside Airflow: the Airflow AWS connection (through the amazon provider's hook). In a step
subprocess: the environment only, and the step must not import Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SECRET = "s3cr3t-MUST-NOT-LEAK"

HOOK_SCRIPT = """
import json, sys
import airflow  # this process is an Airflow process: the connection is the source
from airflow_ml_provider.datastore.s3 import S3Backend, S3StoreError, s3_env_for_subprocess
backend = S3Backend(sys.argv[1])
backend.write("from_hook.txt", b"written through the Airflow connection")
out = {"endpoint": backend.client.meta.endpoint_url, "read": bytes(backend.read("from_hook.txt")).decode(),
       "env": s3_env_for_subprocess()}
try:
    S3Backend("s3://no-such-bucket-zz/p").write("a", b"x")
except S3StoreError as exc:
    out["missing"] = str(exc)
print(json.dumps(out))
"""

PLAIN_SCRIPT = """
import json, logging, sys
logging.basicConfig(level=logging.DEBUG)
from airflow_ml_provider.datastore.backend import get_backend
from airflow_ml_provider.datastore.s3 import S3StoreError
backend = get_backend(sys.argv[1])
out = {}
try:
    out["read"] = bytes(backend.read("from_hook.txt")).decode()
    out["endpoint"] = backend.client.meta.endpoint_url
except S3StoreError as exc:
    out["error"] = str(exc)
out["airflow_imported"] = "airflow" in sys.modules
print(json.dumps(out))
"""


def _clean_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRFLOW"))}
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow_home"),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def _run(script: str, root: str, env: dict[str, str]) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), root], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_hook_path_then_plain_env_path(moto_server: str, raw_s3, bucket: str, tmp_path) -> None:
    root = f"s3://{bucket}/creds"
    conn = {
        "conn_type": "aws", "login": "testing", "password": SECRET,
        "extra": {"endpoint_url": moto_server, "region_name": "eu-west-1"},
    }  # fmt: skip
    # No AWS_* variables at all: only the Airflow connection can lead the client to moto.
    hook_env = _clean_env(tmp_path, AIRFLOW_CONN_AWS_DEFAULT=json.dumps(conn))
    out, stderr = _run(HOOK_SCRIPT, root, hook_env)
    assert out["endpoint"] == moto_server
    assert out["read"] == "written through the Airflow connection"
    assert out["env"] == {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_S3": moto_server,
    }
    assert "no-such-bucket-zz" in out["missing"] and "AWS connection 'aws_default'" in out["missing"]
    assert SECRET not in stderr

    # The step subprocess: env from s3_env_for_subprocess, no Airflow import, same object.
    out, stderr = _run(PLAIN_SCRIPT, root, _clean_env(tmp_path, **out["env"]))
    assert out == {"read": "written through the Airflow connection", "endpoint": moto_server,
                   "airflow_imported": False}  # fmt: skip
    assert SECRET not in stderr  # DEBUG logging on: botocore and we never print the secret


def test_plain_env_honours_aws_endpoint_url(moto_server: str, raw_s3, bucket: str, tmp_path) -> None:
    raw_s3.put_object(Bucket=bucket, Key="creds/from_hook.txt", Body=b"generic endpoint variable")
    env = _clean_env(
        tmp_path, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=moto_server,
    )  # fmt: skip
    out, _ = _run(PLAIN_SCRIPT, f"s3://{bucket}/creds", env)
    assert out["read"] == "generic endpoint variable" and out["airflow_imported"] is False


def test_no_credentials_is_one_clear_line(moto_server: str, bucket: str, tmp_path) -> None:
    env = _clean_env(tmp_path, AWS_ENDPOINT_URL_S3=moto_server, AWS_DEFAULT_REGION="us-east-1")
    out, _ = _run(PLAIN_SCRIPT, f"s3://{bucket}/creds", env)
    assert out["error"].startswith("no AWS credentials found for artifact root s3://")
    assert bucket in out["error"] and "\n" not in out["error"]
    assert out["airflow_imported"] is False
