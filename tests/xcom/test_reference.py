"""Inline-or-reference policy, round trips, previews and the GC sweep, without an Airflow run."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from airflow_ml_provider.datastore.backend import LocalBackend
from airflow_ml_provider.xcom import gc, reference
from airflow_ml_provider.xcom.reference import MARKER, REFERENCE_MAX_BYTES, stays_inline


@pytest.mark.parametrize(
    "value",
    [None, 1, 2.5, True, "x", ["0", "1", "2"], {"a": [1, {"b": None}]}, (1, 2), [str(i) for i in range(500)]],
)
def test_small_plain_json_stays_inline(value: object) -> None:
    assert stays_inline(value)


@pytest.mark.parametrize(
    "value",
    [
        pd.DataFrame({"a": [1]}),  # columnar even when tiny
        np.zeros(3),
        pa.table({"a": [1]}),
        {1: "int key"},
        {"x": float("nan")},  # not JSON: PostgreSQL's json type refuses NaN
        {MARKER: 1, "key": "a" * 64},  # would be read back as a reference
        "s" * 5000,
        [str(i) for i in range(2000)],  # a 2000-item task-id list (~13 KB)
        {1, 2},
        b"bytes",
        pd.Timestamp("2026-01-01"),
    ],
)
def test_everything_else_is_stored(value: object) -> None:
    assert not stays_inline(value)


@pytest.mark.parametrize(
    "value",
    [
        pd.DataFrame({"n": np.arange(1000), "s": ["x"] * 1000, "t": pd.date_range("2026", periods=1000, freq="s")}),
        np.arange(10_000, dtype="int16").reshape(100, 100),
        {"x": float("nan"), "y": b"raw"},
        [str(i) for i in range(2000)],
        {MARKER: 1, "key": "not a blob"},
    ],
)
def test_round_trip_through_the_store(tmp_path, value: object) -> None:
    backend = LocalBackend(tmp_path)
    ref = reference.store_value(value, backend)
    assert reference.is_reference(ref) and len(json.dumps(ref)) <= REFERENCE_MAX_BYTES
    back = reference.load_value(json.loads(json.dumps(ref)), backend)  # as read from the DB
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)
        assert back.dtype == value.dtype
    elif isinstance(value, dict) and "x" in value:
        assert np.isnan(back["x"]) and back["y"] == b"raw"
    else:
        assert back == value


def test_wide_frame_preview_is_cut_to_fit_the_row(tmp_path) -> None:
    wide = pd.DataFrame({f"column_{i}_" + "x" * 40: ["y" * 60] * 60 for i in range(20)})  # ~75 KB preview
    ref = reference.store_value(wide, LocalBackend(tmp_path))
    assert len(json.dumps(ref)) <= REFERENCE_MAX_BYTES
    assert ref["preview"]["kind"] == "table" and ref["preview"]["shape"] == [60, 20]
    assert ref["serializer"] == "pandas-dataframe"


def test_dedup_writes_once_and_touches(tmp_path) -> None:
    backend = LocalBackend(tmp_path)
    frame = pd.DataFrame({"a": range(100)})
    first, second = reference.store_value(frame, backend), reference.store_value(frame.copy(), backend)
    assert first["key"] == second["key"] and (first["written"], second["written"]) == (True, False)
    assert backend.exists(reference.touch_path(first["key"]))
    assert len(gc.list_objects(backend, gc.DATA)) == 1


def test_missing_blob_names_the_problem(tmp_path) -> None:
    ref = reference.store_value(np.ones(4), LocalBackend(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"XCom blob .* is missing"):
        reference.load_value(ref, LocalBackend(tmp_path / "elsewhere"))


def _age(backend: LocalBackend, seconds: float) -> None:
    then = time.time() - seconds
    for path in gc.list_objects(backend, "_xcom"):
        os.utime(os.path.join(backend.root, path), (then, then))


def test_sweep_local(tmp_path) -> None:
    backend = LocalBackend(tmp_path)
    kept = reference.store_value(np.arange(10), backend)
    gone = reference.store_value(np.arange(20), backend)
    _age(backend, 2 * 86400)
    recent = reference.store_value(np.arange(30), backend)
    report = gc.sweep(backend, lambda: {kept["key"]}, min_age_s=86400)
    assert report.deleted == [gone["key"]] and report.too_recent == 1 and report.referenced == 1
    assert not backend.exists(f"_xcom/data/{gone['key'][:2]}/{gone['key']}")
    assert reference.load_value(recent, backend).tolist() == list(range(30))


def test_sweep_spares_an_old_blob_reused_by_a_recent_push(tmp_path) -> None:
    backend = LocalBackend(tmp_path)
    ref = reference.store_value(np.arange(10), backend)
    _age(backend, 2 * 86400)
    reference.store_value(np.arange(10), backend)  # dedup hit: rows may not be committed yet
    report = gc.sweep(backend, set, min_age_s=86400)
    assert report.deleted == [] and report.too_recent == 1
    assert reference.load_value(ref, backend).tolist() == list(range(10))


def test_sweep_s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from airflow_ml_provider.datastore.s3 import S3Backend
    from tests.fixtures.moto import new_bucket_name

    bucket = new_bucket_name("xcom")
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket=bucket)
    backend = S3Backend(f"s3://{bucket}/root", client=client)
    kept = reference.store_value(pd.DataFrame({"a": range(10)}), backend)
    gone = reference.store_value(pd.DataFrame({"a": range(20)}), backend)
    reference.store_value(pd.DataFrame({"a": range(20)}), backend)  # touch marker
    later = time.time() + 2 * 86400
    report = gc.sweep(backend, lambda: {kept["key"]}, min_age_s=86400, now=later)
    assert report.deleted == [gone["key"]] and report.blobs == 2
    left = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="root/_xcom/")["Contents"]}
    assert left == {f"root/_xcom/data/{kept['key'][:2]}/{kept['key']}"}
    assert reference.load_value(kept, backend)["a"].tolist() == list(range(10))


def test_referenced_keys_reads_both_db_shapes() -> None:
    ref = {MARKER: 1, "key": "f" * 64}
    assert gc.referenced_keys([ref, json.dumps(ref), {"other": 1}, "not json", None, [1]]) == {"f" * 64}
