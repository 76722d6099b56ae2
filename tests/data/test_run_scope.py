"""``S3(run=self)`` inside a real step (``python flow.py run`` with an s3:// artifact root on moto)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from airflow_ml_provider import S3
from airflow_ml_provider.client import Flow, set_artifact_root

FLOW = """
from airflow_ml_provider import FlowSpec, S3, current, step


class DataScopeFlow(FlowSpec):
    @step
    def start(self):
        with S3(run=self) as s3:
            self.url = s3.put("notes/hello.txt", "hello from " + current.run_id)
            self.root = s3.s3root
        self.next(self.end)

    @step
    def end(self):
        with S3(run=self) as s3:
            obj = s3.get("notes/hello.txt")
            self.text = obj.text
            self.keys = [o.key for o in s3.list_recursive()]


if __name__ == "__main__":
    DataScopeFlow()
"""


def test_run_scoped_keys_inside_a_step(tmp_path: Path, bucket: str, raw_s3, s3_env: str) -> None:
    (tmp_path / "scope_flow.py").write_text(textwrap.dedent(FLOW))
    root = f"s3://{bucket}/ml"
    env = {**os.environ, "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": root}
    result = subprocess.run(
        [sys.executable, "scope_flow.py", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_id = re.search(r"^\[ml-provider\] \w+ run (\S+) -> ", result.stdout, re.M).group(1)

    key = f"ml/DataScopeFlow/runs/{run_id}/data-s3/notes/hello.txt"
    body = raw_s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert body == f"hello from {run_id}"

    set_artifact_root(root)
    try:
        run = Flow("DataScopeFlow")[run_id]
        assert run.data.url == f"s3://{bucket}/{key}"
        assert run.data.root == f"{root}/DataScopeFlow/runs/{run_id}/data-s3"
        assert run.data.text == body and run.data.keys == ["notes/hello.txt"]
        with S3(run=run) as s3:  # outside a step: a client Run scopes the same way
            assert s3.get("notes/hello.txt").text == body
    finally:
        set_artifact_root(None)
