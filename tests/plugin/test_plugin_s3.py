"""The plugin's store queries over an ``s3://`` artifact root (moto_server through boto3).

The api-server routes call exactly these queries, so this checks the S3 path of the plugin
without a second api-server: listing, dag->flow mapping, runs, pages of tasks, comparison and the
raw blob bytes behind a download.
"""

from __future__ import annotations

import hashlib

import boto3
from store_fixtures import RUN_A, build_table_flow

from airflow_ml_provider.datastore import FlowDatastore, encode_run_id
from airflow_ml_provider.datastore.s3 import S3Backend
from airflow_ml_provider.plugin.queries import NotFound, StoreReader, compare


def test_queries_over_s3(moto_server):
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket="plugin-s3")
    backend = S3Backend("s3://plugin-s3/ml", client=client)
    ids = build_table_flow(backend)
    backend.write("_dags/table_dag.json", b'{"flow_name": "TableFlow"}')

    store = StoreReader(backend)
    assert store.flow_names() == ["TableFlow"]
    assert store.flow_for_dag("TableFlow") == "TableFlow"
    flow, rid, meta = store.run("TableFlow", RUN_A)
    assert rid == encode_run_id(RUN_A) and meta["dag_id"] == "TableFlow"
    assert [r["run_id"] for r in store.runs(flow)] == [ids["run_b"], ids["run_a"]]
    total, tasks = store.step_page(flow, rid, "train")
    assert total == 1 and tasks[0].attempts == [0, 1] and tasks[0].status == "success"
    assert tasks[0].successful["artifacts"]["df"]["preview"]["kind"] == "table"
    changed = [
        r
        for r in compare(store.artifact_keys(flow, ids["run_a"]), store.artifact_keys(flow, ids["run_b"]))
        if r["state"] == "changed"
    ]
    assert {(r["step"], r["name"]) for r in changed} == {("train", "df"), ("end", "df")}
    key = tasks[0].successful["artifacts"]["df"]["key"]
    assert hashlib.sha256(bytes(FlowDatastore(flow, backend).get_blob(key))).hexdigest() == key
    for bad in ("..", "a/b", "nope"):
        try:
            store.run("TableFlow", bad)
        except NotFound:
            continue
        raise AssertionError(f"{bad!r} should be NotFound")
