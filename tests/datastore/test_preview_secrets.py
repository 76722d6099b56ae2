"""Previews never show secrets (issue 16, part 3): names that look like secrets, known values,
Airflow's own masker in an Airflow process. The stored blob keeps the value; only what readers
of the DAG see is masked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from airflow_ml_provider.datastore.backend import LocalBackend
from airflow_ml_provider.datastore.flow_store import FlowDatastore
from airflow_ml_provider.datastore.preview import MAX_TEXT, make_preview

SECRET = "s3cr3t-value-MUST-NOT-SHOW"


def _shown(preview: dict) -> str:
    return json.dumps(preview)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_WORKER_SECRET", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-0123456789")
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__KUBERNETES_SECRETS", "ml-s3-credentials")


def test_proc_environ_dump_shows_names_not_values() -> None:
    dump = f"PATH=/usr/bin\x00FAKE_WORKER_SECRET={SECRET}\x00DB_PASSWORD=hunter22\x00USER=bob\x00"
    text = make_preview(dump, "pickle")["text"]
    assert text == "PATH=/usr/bin\x00FAKE_WORKER_SECRET=***\x00DB_PASSWORD=***\x00USER=bob\x00"


def test_env_file_lines_and_reprs() -> None:
    text = (
        'export GITHUB_TOKEN="ghp_abc def"\nMY_API_KEY: zzzzzz\n'
        "url=https://x/?token=abcdef&page=2\nmodel=resnet50\n"
        "{'private_key': 'BEGIN KEY', \"ml-s3-credentials\": \"whole-secret\"}"
    )
    shown = make_preview(text, "pickle")["text"]
    assert shown == (
        'export GITHUB_TOKEN="***"\nMY_API_KEY: ***\n'
        "url=https://x/?token=***&page=2\nmodel=resnet50\n"
        "{'private_key': '***', \"ml-s3-credentials\": \"***\"}"
    )


def test_dicts_mask_secret_names_at_any_depth_and_known_values_anywhere() -> None:
    value = {
        "lr": 0.1,
        "env": {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "HOME": "/root", "nested": [{"password": "pw-123456"}]},
        "note": f"copied {SECRET} by mistake",
        "credentials": {"user": "u", "pass": "p"},
    }
    preview = make_preview(value, "pickle")
    shown = _shown(preview)
    for leaked in (SECRET, "AKIAEXAMPLE", "pw-123456", '\\"pass\\": \\"p\\"'):
        assert leaked not in shown
    doc = json.loads(preview["text"])
    assert doc["lr"] == 0.1 and doc["env"]["HOME"] == "/root"
    assert doc["env"]["AWS_ACCESS_KEY_ID"] == "***" and doc["env"]["nested"] == [{"password": "***"}]
    assert doc["note"] == "copied *** by mistake" and doc["credentials"] == "***"


def test_dataframe_columns_and_cells() -> None:
    df = pd.DataFrame({"user": ["a", "b"], "password": ["p1", "p2"], "note": ["ok", f"x {SECRET}"]})
    preview = make_preview(df, "pandas-dataframe")
    assert preview["rows"] == [["a", "***", "ok"], ["b", "***", "x ***"]]
    assert [c["name"] for c in preview["columns"]] == ["user", "password", "note"]


def test_a_secret_at_the_cut_leaves_no_prefix() -> None:
    text = "x" * (MAX_TEXT - 10) + SECRET + "y" * 100
    shown = make_preview(text, "pickle")["text"]
    assert SECRET[:8] not in shown and len(shown) <= MAX_TEXT


def test_artifact_named_like_a_secret_shows_nothing() -> None:
    assert make_preview("anything at all", "pickle", name="api_token") == {
        "kind": "text", "text": "***", "masked": True,
    }  # fmt: skip
    assert make_preview("anything at all", "pickle", name="notes")["text"] == "anything at all"


def test_plain_content_is_untouched() -> None:
    text = "epochs=3\nlr: 0.1\nmodel=resnet50, accuracy=0.93\n" * 3
    assert make_preview(text, "pickle")["text"] == text
    assert make_preview({"a": [1, 2], "b": "c"}, "pickle")["text"] == json.dumps({"a": [1, 2], "b": "c"}, indent=1)


def test_store_keeps_the_value_but_its_record_does_not(tmp_path) -> None:
    store = FlowDatastore("SecretFlow", LocalBackend(str(tmp_path)))
    record = store.save_artifact("env", {"FAKE_WORKER_SECRET": SECRET})
    assert SECRET not in json.dumps(record)
    assert store.load_artifact(record) == {"FAKE_WORKER_SECRET": SECRET}  # the user's own value
    token = store.save_artifact("api_token", "tok-0123456789")
    assert token["preview"] == {"kind": "text", "text": "***", "masked": True}
    assert store.load_artifact(token) == "tok-0123456789"


AIRFLOW_SCRIPT = """
import json, sys
from airflow.sdk._shared.secrets_masker import mask_secret
from airflow_ml_provider.datastore.preview import make_preview
mask_secret("conn-password-from-airflow")  # what a task does when it fetches a connection
print(json.dumps(make_preview({"uri": "postgres://u:conn-password-from-airflow@db/x"}, "pickle")))
"""


def test_airflow_process_uses_airflows_masker() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FAKE_WORKER_SECRET"}
    out = subprocess.run([sys.executable, "-c", AIRFLOW_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    preview = json.loads(out.stdout.strip().splitlines()[-1])
    assert "conn-password-from-airflow" not in preview["text"]
    assert "postgres://u:***@db/x" in preview["text"]
