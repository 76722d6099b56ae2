"""Parquet tables on moto_server: partitioned write, filters + column selection, pushdown seen as GETs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_ml_provider import S3
from airflow_ml_provider.data import read_pandas, read_table, write_table


def _frame(rows: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "year": np.repeat([2024, 2025, 2026], rows // 3),
            "region": np.tile(["north", "south"], rows // 2),
            "user": np.arange(rows),
            "amount": rng.random(rows),
            "note": [f"n{i}" for i in range(rows)],
        }
    )


@pytest.fixture
def dataset(bucket: str) -> tuple[str, pd.DataFrame, list[str]]:
    df = _frame()
    prefix = f"s3://{bucket}/events"
    files = write_table(df, prefix, partition_cols=["year", "region"])
    return prefix, df, files


def test_write_partitioned_layout(dataset) -> None:
    prefix, _, files = dataset
    assert len(files) == 6
    assert {f.split("/events/")[1].rsplit("/", 1)[0] for f in files} == {
        f"year={y}/region={r}" for y in (2024, 2025, 2026) for r in ("north", "south")
    }
    with S3(s3root=prefix) as s3:
        assert sorted(o.url for o in s3.list_recursive()) == files


@pytest.mark.parametrize("via", ["arrow", "download", "auto"])
def test_filters_and_columns(dataset, via: str) -> None:
    prefix, df, _ = dataset
    table = read_table(
        prefix, columns=["user", "amount", "year"], filters=[("year", ">=", 2025), ("region", "=", "north")], via=via
    )
    want = df[(df.year >= 2025) & (df.region == "north")]
    assert table.column_names == ["user", "amount", "year"]
    assert sorted(table.column("user").to_pylist()) == sorted(want.user.tolist())
    rows = read_table(prefix, filters=[("amount", "<", 0.5), ("year", "=", 2024)], via=via)
    assert rows.num_rows == int(((df.amount < 0.5) & (df.year == 2024)).sum())
    assert set(rows.column_names) == {"user", "amount", "note", "year", "region"}


@pytest.mark.parametrize("via", ["arrow", "download"])
def test_partition_pruning_reads_only_selected_files(dataset, fault_proxy, via: str) -> None:
    prefix, df, files = dataset
    fault_proxy.requests.clear()
    table = read_table(prefix, columns=["user"], filters=[("year", "=", 2026), ("region", "=", "south")], via=via)
    assert table.num_rows == int(((df.year == 2026) & (df.region == "south")).sum())
    read = [p.split("?")[0].replace("%3D", "=") for m, p in fault_proxy.requests if m == "GET"]
    read = [p for p in read if p.endswith(".parquet")]
    selected = next(f for f in files if "year=2026/region=south" in f).split("/", 2)[2]
    schema_file = files[0].split("/", 2)[2]  # pyarrow reads the first file's footer to infer the schema
    assert any(p.endswith(selected) for p in read), read
    assert all(p.endswith((selected, schema_file)) for p in read), read  # 4 of 6 files never touched
    assert sum(p.endswith(schema_file) for p in read) <= 2  # footer only, not its data


def test_read_pandas_and_file_lists(dataset) -> None:
    prefix, df, files = dataset
    got = read_pandas(prefix, columns=["user", "note"]).sort_values("user").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got, df[["user", "note"]].sort_values("user").reset_index(drop=True), check_dtype=False
    )
    part = read_table([f for f in files if "year=2025" in f], via="download")
    assert part.num_rows == int((df.year == 2025).sum())
    assert "region" in part.column_names  # partition columns below the files' common folder survive
    assert read_table(prefix, filters=[("year", "=", 1999)]).num_rows == 0


@pytest.mark.parametrize("via", ["arrow", "download"])
def test_shards_single_files_and_empty_inputs(dataset, bucket: str, via: str) -> None:
    """What a foreach over shard() meets: one-partition shards, single files, shards with no files."""
    _, df, files = dataset
    (one,) = [f for f in files if "year=2025/region=north" in f]
    for source in ([one], one):  # a shard inside one partition folder, and one file URL
        got = read_pandas(source, filters=[("year", "=", 2025)], via=via)
        assert len(got) == int(((df.year == 2025) & (df.region == "north")).sum())
        assert set(got.columns) == set(df.columns)  # the partition columns are still there
        assert set(got["region"]) == {"north"}
    assert read_pandas([]).empty and read_table([], columns=["user"]).column_names == ["user"]
    with pytest.raises(FileNotFoundError, match=rf"no Parquet data at s3://{bucket}/nothing-here"):
        read_table(f"s3://{bucket}/nothing-here/", via=via)


def test_write_table_keeps_a_labelled_index(bucket: str) -> None:
    agg = pd.DataFrame({"user": list("aabbc"), "amount": [1.0, 2, 3, 4, 5]}).groupby("user").sum()
    write_table(agg, f"s3://{bucket}/agg")
    got = read_pandas(f"s3://{bucket}/agg")
    pd.testing.assert_frame_equal(got.sort_index(), agg)


def test_partition_values_keep_their_type_with_an_explicit_partitioning(bucket: str) -> None:
    """The user guide's answer to zip=02134 read back as 2134, for a prefix and for a one-partition shard."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    df = pd.DataFrame({"zip": ["02134", "10001"], "amount": [1.5, 2.0]})
    files = write_table(df, f"s3://{bucket}/zips", partition_cols=["zip"])
    typed = ds.partitioning(pa.schema([("zip", pa.string())]), flavor="hive")
    got = read_pandas(f"s3://{bucket}/zips", partitioning=typed, filters=[("zip", "=", "02134")])
    assert got["zip"].tolist() == ["02134"] and got["amount"].tolist() == [1.5]
    shard_of_one = [f for f in files if "zip=02134" in f]
    assert read_pandas(shard_of_one, partitioning=typed)["zip"].tolist() == ["02134"]
