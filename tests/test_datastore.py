"""The artifact store: serializers, previews, ids and attempt records, on a local folder."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from airflow_ml_provider.datastore import (
    FAILED,
    SUCCESS,
    FlowDatastore,
    InvalidIdError,
    LocalBackend,
    check_id,
    encode_run_id,
)
from airflow_ml_provider.datastore.preview import MAX_CELL, MAX_PREVIEW_BYTES, MAX_ROWS, make_preview
from airflow_ml_provider.datastore.serializers import ArtifactSerializationError, serialize


@pytest.fixture
def ds(tmp_path: Path) -> FlowDatastore:
    return FlowDatastore("StoreFlow", LocalBackend(tmp_path))


def roundtrip(ds: FlowDatastore, value, serializer: str):
    record = ds.save_artifact("x", value)
    assert record["serializer"] == serializer
    json.dumps(record)  # the record (with its preview) is plain JSON
    return ds.load_artifact(record)


# -- serializers ---------------------------------------------------------------------------------


def test_dataframe_round_trip_keeps_index_and_dtypes(ds: FlowDatastore) -> None:
    df = pd.DataFrame(
        {
            "city": pd.Categorical(["oslo", "rome", "oslo", "lima"], categories=["lima", "oslo", "rome"]),
            "when": pd.date_range("2026-03-01", periods=4, freq="D", tz="Europe/Oslo"),
            "naive": pd.date_range("2026-03-01", periods=4, freq="h"),
            "name": ["a", "bb", None, "dddd"],
            "value": [1.5, np.nan, 3.0, 4.25],
            "count": np.array([1, 2, 3, 4], dtype="int32"),
            "flag": [True, False, True, False],
        },
        index=pd.Index(["w", "x", "y", "z"], name="key"),
    )
    back = roundtrip(ds, df, "pandas-dataframe")
    pd.testing.assert_frame_equal(back, df)
    assert isinstance(back["city"].dtype, pd.CategoricalDtype)
    assert list(back["city"].cat.categories) == ["lima", "oslo", "rome"]
    assert str(back["when"].dt.tz) == "Europe/Oslo"
    assert back.index.name == "key"


def test_dataframe_multiindex_and_range_index(ds: FlowDatastore) -> None:
    mi = pd.DataFrame(
        {"v": [1, 2, 3]}, index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["g", "n"])
    )
    pd.testing.assert_frame_equal(roundtrip(ds, mi, "pandas-dataframe"), mi)
    ranged = pd.DataFrame({"v": range(5)}, index=pd.RangeIndex(10, 20, 2))
    pd.testing.assert_frame_equal(roundtrip(ds, ranged, "pandas-dataframe"), ranged)


def test_series_round_trip_keeps_name_and_index(ds: FlowDatastore) -> None:
    named = pd.Series([1.0, 2.5, np.nan], index=pd.Index([10, 20, 30], name="id"), name="price")
    pd.testing.assert_series_equal(roundtrip(ds, named, "pandas-series"), named)
    unnamed = pd.Series(pd.to_datetime(["2026-01-01", "2026-06-01"]).tz_localize("UTC"))
    back = roundtrip(ds, unnamed, "pandas-series")
    pd.testing.assert_series_equal(back, unnamed)
    assert back.name is None
    tuple_named = pd.Series(["x", "y"], name=("a", 1))
    assert roundtrip(ds, tuple_named, "pandas-series").name == ("a", 1)


def test_arrow_table_round_trip(ds: FlowDatastore) -> None:
    table = pa.table(
        {
            "i": pa.array([1, None, 3], pa.int64()),
            "s": pa.array(["a", "b", None]),
            "l": pa.array([[1, 2], [], None], pa.list_(pa.int16())),
            "t": pa.array([datetime(2026, 1, 1, tzinfo=timezone.utc)] * 3, pa.timestamp("us", tz="UTC")),
        },
        metadata={b"origin": b"test"},
    )
    back = roundtrip(ds, table, "arrow-table")
    assert isinstance(back, pa.Table)
    assert back.equals(table, check_metadata=True)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int8).reshape(3, 4),
        np.linspace(0, 1, 7, dtype=np.float32),
        np.array([1 + 2j, 3 - 4j], dtype=np.complex128),
        np.array([True, False, True]),
        np.array(["ab", "cde"], dtype="U3"),
        np.array([b"x", b"yz"], dtype="S2"),
        np.array(["2026-01-01", "2026-02-01"], dtype="datetime64[D]"),
        np.array(3.5),  # 0-d
        np.zeros((0, 3), dtype=np.uint16),
        np.zeros(3, dtype=[("a", "i4"), ("b", "f8")]),
        np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)),
    ],
    ids=["int8-2d", "float32", "complex", "bool", "unicode", "bytes", "datetime64", "0d", "empty", "struct", "fortran"],
)
def test_numpy_round_trip_without_pickle(ds: FlowDatastore, array: np.ndarray) -> None:
    record = ds.save_artifact("arr", array)
    assert record["serializer"] == "numpy-npy"
    blob = bytes(ds.get_blob(record["key"]))
    assert blob.startswith(b"\x93NUMPY")  # .npy, not a pickle
    back = ds.load_artifact(record)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    if array.ndim > 1 and array.flags.f_contiguous and not array.flags.c_contiguous:
        assert back.flags.f_contiguous


def test_object_arrays_and_python_objects_use_pickle(ds: FlowDatastore) -> None:
    nested = {
        "a": [1, 2.5, "three", None, (4, 5)],
        "b": {"set": {1, 2}, "frozen": frozenset({"x"}), "bytes": b"\x00\xff"},
        "when": datetime(2026, 11, 27, 21, 27, tzinfo=timezone.utc),
        "num": [Decimal("1.10"), Fraction(1, 3), 10**30],
        "frame": pd.DataFrame({"x": [1, 2]}),
    }
    back = roundtrip(ds, nested, "pickle")
    frame = back.pop("frame")
    pd.testing.assert_frame_equal(frame, nested.pop("frame"))
    assert back == nested
    objects = np.array([1, "a", None], dtype=object)
    np.testing.assert_array_equal(roundtrip(ds, objects, "pickle"), objects)


def test_dataframe_with_mixed_object_column_falls_back_to_pickle(ds: FlowDatastore) -> None:
    df = pd.DataFrame({"mixed": [1, "two", 3.0, {"four": 4}], "ok": [1, 2, 3, 4]})
    back = roundtrip(ds, df, "pickle")
    pd.testing.assert_frame_equal(back, df)
    assert back["mixed"].tolist() == [1, "two", 3.0, {"four": 4}]


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"payload": [{"user": 1}, {"item": 7}]}),  # Arrow: structs padded with None
        pd.DataFrame({"cells": [[1, 2], (3,)]}),  # Arrow: lists/tuples come back as ndarrays
        pd.DataFrame({"ints": pd.Series([1, 2], dtype=object)}),  # Arrow: int64
        pd.DataFrame({1: [1.0], "1": [2.0]}),  # Arrow: both labels become "1"
        pd.DataFrame({"sales": [10, 20]}, index=pd.period_range("2024-01", periods=2, freq="M")),
        pd.DataFrame({"span": pd.interval_range(0, 2)}),
    ],
    ids=["dict-cells", "list-cells", "object-ints", "int-and-str-labels", "period-index", "intervals"],
)
def test_dataframes_arrow_would_change_are_pickled_and_come_back_equal(ds: FlowDatastore, frame) -> None:
    back = roundtrip(ds, frame, "pickle")
    pd.testing.assert_frame_equal(back, frame)
    assert list(back.columns) == list(frame.columns)


def test_unpicklable_value_names_the_artifact() -> None:
    import threading

    with pytest.raises(ArtifactSerializationError, match=r"artifact 'my_lock' of type _thread\.lock"):
        serialize("my_lock", threading.Lock())
    with pytest.raises(ArtifactSerializationError, match=r"artifact 'fn'.*function"):
        serialize("fn", lambda x: x)


def test_identical_values_share_one_blob(ds: FlowDatastore, tmp_path: Path) -> None:
    first = ds.save_artifact("a", np.arange(1000))
    second = ds.save_artifact("b", np.arange(1000))
    assert first["key"] == second["key"]
    assert first["written"] is True and second["written"] is False
    blobs = [p for p in (tmp_path / "StoreFlow" / "data").rglob("*") if p.is_file()]
    assert len(blobs) == 1 and blobs[0].name == first["key"]
    assert blobs[0].parent.name == first["key"][:2]


def test_large_blobs_hashed_while_written_keep_sha256_keys_and_dedup(ds: FlowDatastore, tmp_path: Path) -> None:
    """From OVERLAP_MIN_BYTES the local store writes while it hashes; keys and dedup are unchanged."""
    import hashlib

    from airflow_ml_provider.datastore.backend import OVERLAP_MIN_BYTES

    data = np.random.default_rng(7).bytes(OVERLAP_MIN_BYTES + 12345)
    key, written = ds.put_blob(data)
    assert written is True and key == hashlib.sha256(data).hexdigest()
    assert bytes(ds.get_blob(key)) == data
    again_key, again_written = ds.put_blob(memoryview(data))
    assert (again_key, again_written) == (key, False)
    files = [p for p in (tmp_path / "StoreFlow" / "data").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [key], "the second write must leave no temporary file behind"


# -- previews ------------------------------------------------------------------------------------


def test_preview_of_a_million_row_frame_is_bounded() -> None:
    n = 1_000_000
    df = pd.DataFrame(
        {
            "i": np.arange(n),
            "x": np.random.default_rng(0).normal(size=n),
            "text": ["y" * 500] * n,
        }
    )
    preview = make_preview(df, "pandas-dataframe")
    assert preview["kind"] == "table"
    assert preview["shape"] == [n, 3]
    assert preview["truncated"] is True
    assert len(preview["rows"]) <= MAX_ROWS == 50
    assert [c["name"] for c in preview["columns"]] == ["i", "x", "text"]
    assert preview["rows"][0][0] == 0
    text = preview["rows"][0][2]
    assert len(text) <= MAX_CELL and text.endswith("…")
    assert len(json.dumps(preview)) <= MAX_PREVIEW_BYTES


def test_preview_bounds_for_other_kinds() -> None:
    long_text = "z" * 100_000
    text = make_preview(long_text, "pickle")
    assert text["kind"] == "text" and text["length"] == 100_000 and len(text["text"]) <= 2000
    array = make_preview(np.arange(1_000_000, dtype=np.float64), "numpy-npy")
    assert array["kind"] == "array" and array["shape"] == [1_000_000] and len(array["values"]) <= 20
    assert array["stats"]["min"] == 0.0 and array["stats"]["max"] == 999_999.0
    wide = pd.DataFrame(np.zeros((3, 500)))
    table = make_preview(wide, "pandas-dataframe")
    assert table["truncated"] is True and len(table["columns"]) <= 40
    big_json = {f"k{i}": "v" * 100 for i in range(10_000)}
    blob = make_preview(big_json, "pickle")
    assert blob["kind"] == "json" and blob["truncated"] is True
    for preview in (text, array, table, blob):
        assert len(json.dumps(preview)) <= MAX_PREVIEW_BYTES
    assert make_preview(42, "pickle") == {"kind": "scalar", "text": "42"}


# -- ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "..", "a..b", "../etc", "a/b", "/abs", ".hidden", "-x", "a b", "x" * 201, None, 3])
def test_check_id_refuses_unsafe_ids(bad) -> None:
    with pytest.raises(InvalidIdError):
        check_id(bad, "run id")


def test_check_id_accepts_safe_ids() -> None:
    for good in ["start", "0", "3-1", "local__20261127T222513_3c85df", "v1.2", "_x", "x" * 200]:
        assert check_id(good) == good


def test_store_refuses_unsafe_ids(ds: FlowDatastore) -> None:
    with pytest.raises(InvalidIdError):
        FlowDatastore("../escape", ds.backend)
    with pytest.raises(InvalidIdError):
        ds.read_run("../../x")
    with pytest.raises(InvalidIdError):
        ds.write_attempt("run", "step/../x", "0", 0, {})


def test_encode_run_id() -> None:
    airflow_id = "manual__2026-11-27T21:27:11+00:00_CLq8rl1f"
    encoded = encode_run_id(airflow_id)
    assert encoded == encode_run_id(airflow_id)  # deterministic
    assert check_id(encoded) == encoded
    assert ":" not in encoded and "+" not in encoded
    assert encoded.startswith("manual__2026-11-27T21_27_11_00_00_CLq8rl1f")
    # ids differing only in unsafe characters stay apart
    assert encode_run_id("manual__a:b") != encode_run_id("manual__a+b")
    assert encode_run_id("x:y") != encode_run_id("x_y")
    # safe ids are kept as they are
    assert encode_run_id("local__20261127T222513_3c85df") == "local__20261127T222513_3c85df"
    for weird in ["..", "a/../b", "v1..2", ".hidden", "-x", ":::", "é", "x" * 400]:
        assert check_id(encode_run_id(weird))


# -- attempts ------------------------------------------------------------------------------------


def test_latest_attempt_ignores_started_only_attempts(ds: FlowDatastore) -> None:
    run, step, task = "r1", "train", "0"
    assert ds.latest_attempt(run, step, task) is None
    ds.mark_started(run, step, task, 0, {"attempt": 0})
    assert ds.latest_attempt(run, step, task) is None  # running, not complete
    assert ds.latest_attempt(run, step, task, successful=False)["status"] == "running"
    ds.write_attempt(run, step, task, 0, {"attempt": 0, "status": SUCCESS})
    ds.mark_started(run, step, task, 1, {"attempt": 1})
    ds.write_attempt(run, step, task, 1, {"attempt": 1, "status": FAILED})
    ds.mark_started(run, step, task, 2, {"attempt": 2})
    ds.write_attempt(run, step, task, 2, {"attempt": 2, "status": SUCCESS})
    ds.mark_started(run, step, task, 3, {"attempt": 3})  # a newer attempt still running
    assert ds.attempts(run, step, task) == [0, 1, 2, 3]
    assert ds.latest_attempt(run, step, task)["attempt"] == 2
    assert ds.latest_attempt(run, step, task, successful=False)["attempt"] == 3
    ds.write_attempt(run, step, task, 3, {"attempt": 3, "status": FAILED})
    assert ds.latest_attempt(run, step, task)["attempt"] == 2
    assert ds.read_attempt(run, step, task, 3)["status"] == FAILED
    assert ds.read_attempt(run, step, task, 9) is None


def test_attempt_numbers_sort_numerically(ds: FlowDatastore) -> None:
    for n in (2, 10, 9):
        ds.write_attempt("r", "s", "0", n, {"attempt": n, "status": SUCCESS})
    assert ds.attempts("r", "s", "0") == [2, 9, 10]
    assert ds.latest_attempt("r", "s", "0")["attempt"] == 10


def test_writes_leave_no_temporary_files(ds: FlowDatastore, tmp_path: Path) -> None:
    ds.create_run("r", {"flow_name": ds.flow_name, "run_id": "r", "driver": "airflow"})
    ds.save_artifact("x", {"a": 1})
    ds.write_attempt("r", "s", "0", 0, {"status": SUCCESS})
    ds.end_run("r", SUCCESS)
    leftovers = [p for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []
    assert ds.read_run("r")["status"] == SUCCESS
    assert pickle.loads(bytes(ds.get_blob(ds.save_artifact("y", {"a": 1})["key"]))) == {"a": 1}
