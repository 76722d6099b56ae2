"""One running Airflow shared by every end-to-end test of the session, set up as in production.

PostgreSQL (a throw-away cluster, tests/fixtures/postgres.py), LocalExecutor with parallelism 4,
the artifact store on S3 (moto_server over HTTP, reached through the Airflow AWS connection) and
``[core] xcom_backend = airflow_ml_provider.xcom.ArtifactXComBackend``. Starting it costs about a
minute on 2 cores, so all cases share it; each test triggers its own runs. The fixture is
package-scoped (this folder has an ``__init__.py``): the stack stops when the last e2e test ends,
instead of idling through the rest of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from airflow_ml_provider.client import default_namespace, namespace, set_artifact_root
from tests.fixtures.airflow_stack import AirflowStack, start_stack
from tests.fixtures.moto import new_bucket_name
from tests.fixtures.postgres import start_postgres

HERE = Path(__file__).parent
DAG_IDS = ("E2EFlow", "WideE2EFlow", "ParamsE2EFlow", "XComE2EDag")


@pytest.fixture(scope="package")
def stack(moto_server) -> Iterator[AirflowStack]:
    # Not under pytest's tmp_path: concurrent pytest sessions on one machine prune each other's
    # numbered base folders, which would delete this home while the stack runs.
    base = Path(tempfile.mkdtemp(prefix="ml-e2e-"))
    bucket = new_bucket_name("e2e")
    s3 = boto3.client("s3", endpoint_url=moto_server, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    root = f"s3://{bucket}/ml"
    connection = json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"},
    })  # fmt: skip
    env = {
        "E2E_MARKER": str(base / "fail-fragile"),
        "E2E_WIDE_MARKER": str(base / "fail-item-7"),
        "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": root,
        "AIRFLOW_CONN_AWS_DEFAULT": connection,
        "AIRFLOW__CORE__XCOM_BACKEND": "airflow_ml_provider.xcom.ArtifactXComBackend",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # importing the KubernetesPodOperator alone took > 30 s (the default) on a loaded 2-core box
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
        # The DAG files never change once copied in: re-parsing each one every 10 s (the stack's
        # default here) kept the dag-processor at most of a core and starved the 100-wide run.
        # New files are still found within the refresh interval (5 s).
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    }
    # The client in this process reads S3 the way a notebook does: from AWS_* variables.
    client_env = {
        "AIRFLOW_CONN_AWS_DEFAULT": connection, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": moto_server,
    }  # fmt: skip
    saved = {k: os.environ.get(k) for k in client_env}
    with start_postgres() as database_url:
        running = start_stack(base, env, database_url=database_url)
        running.marker = Path(env["E2E_MARKER"])  # type: ignore[attr-defined]
        running.wide_marker = Path(env["E2E_WIDE_MARKER"])  # type: ignore[attr-defined]
        running.s3 = s3  # type: ignore[attr-defined]
        running.bucket = bucket  # type: ignore[attr-defined]
        running.database_url = database_url  # type: ignore[attr-defined]
        os.environ.update(client_env)
        set_artifact_root(root)
        namespace(None)  # the runs are triggered by the Airflow user admin, read here as every user
        try:
            for name in ("e2e_flow.py", "wide_e2e_flow.py", "params_e2e_flow.py", "xcom_e2e_dag.py"):
                shutil.copy(HERE / "dags" / name, running.dags)
            for dag_id in DAG_IDS:
                running.wait_for(f"DAG {dag_id} parsed",
                                 lambda d=dag_id: running.request("GET", f"/api/v2/dags/{d}")[0] == 200,
                                 timeout=240)  # fmt: skip
                status, body = running.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                assert status == 200, body
            yield running
        finally:
            set_artifact_root(None)
            default_namespace()
            running.stop()
            if not os.environ.get("ML_E2E_KEEP"):  # keep the logs to look at a failure
                shutil.rmtree(base, ignore_errors=True)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
