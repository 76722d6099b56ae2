"""Parquet datasets on S3 as Arrow tables or pandas DataFrames, with pushdown; and writing them back.

``read_table("s3://bucket/events/", columns=["user", "amount"], filters=[("day", "=", "2026-11-27")])``
reads a (hive-)partitioned dataset through ``pyarrow.dataset``: partitions that the filter excludes
are never opened, row groups are skipped by their statistics, and only the selected columns'
chunks are fetched (ranged GETs). ``paths_or_prefix`` is a prefix, one file URL, or a list of file
URLs (e.g. one foreach task's :func:`~airflow_ml_provider.data.sharding.shard`). A list keeps its
hive partition columns even when all its files sit in one partition folder; an empty list (a
shard with no files) gives an empty table, a prefix with nothing under it FileNotFoundError.

Two ways to move the bytes, chosen by ``via``:

``"arrow"``
    pyarrow's C++ S3 filesystem reads footers and column chunks with ranged GETs. Best when only
    a few columns of wide files are needed: bytes not selected are never transferred.
``"download"``
    after pruning partitions, whole files go through :class:`~airflow_ml_provider.data.S3`
    (concurrent plain GETs streamed to a temporary folder) and are scanned locally, then deleted.
    Fewest requests; best when most of each file is needed.
``"auto"`` (default)
    ``"download"`` when all columns are read, ``"arrow"`` when a column subset is. See
    ``benchmarks/parquet_load.py`` and its results for the measurements behind this.

The filesystem is configured from the same boto3 client as :class:`S3` (endpoint, region,
credentials of the Airflow connection or the environment); credentials are frozen at creation,
so build a new one for reads that outlive temporary credentials.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.fs as pafs

    from airflow_ml_provider.data.s3 import S3

Filters = Any  # pyarrow.compute.Expression or DNF list of (column, op, value) tuples


def arrow_filesystem(s3: S3 | None = None) -> pafs.S3FileSystem:
    """A ``pyarrow.fs.S3FileSystem`` with the endpoint, region and credentials of ``s3``'s client."""
    import pyarrow.fs as pafs

    from airflow_ml_provider.data.s3 import S3

    client = (s3 or S3()).client
    kwargs: dict[str, Any] = {
        "region": client.meta.region_name or "us-east-1",
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=6),
        "connect_timeout": 10,
        "request_timeout": 120,
    }
    creds = client._request_signer._credentials  # botocore keeps no public accessor
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        kwargs.update(access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token)
    endpoint = urlparse(client.meta.endpoint_url or "")
    if endpoint.hostname and not endpoint.hostname.endswith("amazonaws.com"):
        kwargs.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme or "https")
    return pafs.S3FileSystem(**kwargs)


def _expression(filters: Filters) -> Any:
    if filters is None:
        return None
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    return filters if isinstance(filters, pc.Expression) else pq.filters_to_expression(filters)


def _strip(url: str) -> str:
    if not url.startswith("s3://"):
        raise ValueError(f"expected an s3:// URL, not {url!r}")
    return url[5:]


def _parquet_format() -> Any:
    """Parquet with ``pre_buffer``: column chunks coalesced into few large concurrent reads.

    ``pyarrow.parquet.read_table`` (and so ``pandas.read_parquet``) turns it on; the dataset API's
    default leaves it off, which measured 1.5-2x slower on S3 (many small sequential ranged GETs).
    """
    import pyarrow.dataset as ds

    return ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True))


def _dataset(paths_or_prefix: str | Sequence[Any], fs: Any, partitioning: Any) -> tuple[Any, str]:
    """The dataset and its base folder (``bucket/prefix``, where partition folders start)."""
    import pyarrow.dataset as ds

    if isinstance(paths_or_prefix, str):
        root = _strip(paths_or_prefix).rstrip("/")
        try:
            dataset = ds.dataset(root, filesystem=fs, format=_parquet_format(), partitioning=partitioning)
        except FileNotFoundError:
            raise FileNotFoundError(f"no Parquet data at {paths_or_prefix}: nothing is stored under it") from None
        if dataset.files != [root]:
            return dataset, root
        paths_or_prefix = [paths_or_prefix]  # one file: read it as a list of one, with its partitions
    files = [_strip(getattr(p, "url", p[0] if isinstance(p, (tuple, list)) else p)) for p in paths_or_prefix]
    base = posixpath.commonpath([posixpath.dirname(f) for f in files])
    hive = partitioning == "hive" or isinstance(partitioning, ds.HivePartitioning)
    hive = hive or getattr(partitioning, "type_name", None) == "hive"  # HivePartitioning.discover()
    if hive:  # a shard inside one partition still gets that partition's column
        parts = base.split("/")
        while len(parts) > 1 and "=" in parts[-1]:
            parts.pop()
        base = "/".join(parts)
    dataset = ds.dataset(
        files, filesystem=fs, format=_parquet_format(), partitioning=partitioning, partition_base_dir=base
    )
    return dataset, base


def read_table(
    paths_or_prefix: str | Sequence[Any], columns: list[str] | None = None, filters: Filters = None,
    s3: S3 | None = None, *, partitioning: Any = "hive", via: str = "auto",
) -> pa.Table:  # fmt: skip
    """Load a Parquet dataset (prefix, file, or list of files) with column and row pushdown."""
    if via not in ("auto", "arrow", "download"):
        raise ValueError(f"via must be auto, arrow or download, not {via!r}")
    from airflow_ml_provider.data.s3 import S3

    if not isinstance(paths_or_prefix, str):
        paths_or_prefix = list(paths_or_prefix)  # a generator is read once, here
        if not paths_or_prefix:
            import pyarrow as pa

            return pa.table({c: pa.array([]) for c in columns or []})  # a foreach shard with no files
    own = s3 is None
    s3 = s3 or S3()
    try:
        fs = arrow_filesystem(s3)
        dataset, base = _dataset(paths_or_prefix, fs, partitioning)
        expr = _expression(filters)
        if via == "auto":
            via = "download" if columns is None else "arrow"
        if via == "arrow":
            return dataset.to_table(columns=columns, filter=expr)
        return _read_downloaded(dataset, base, s3, columns, expr)
    finally:
        if own:
            s3.close()


def _read_downloaded(dataset: Any, base: str, s3: S3, columns: list[str] | None, expr: Any) -> pa.Table:
    """Prune by partition, fetch whole files with the S3 client, scan them locally."""
    import pyarrow.dataset as ds

    files = [f.path for f in dataset.get_fragments(filter=expr)]
    if not files:
        return dataset.schema.empty_table() if columns is None else dataset.schema.empty_table().select(columns)
    tmp = tempfile.mkdtemp(prefix="ml-parquet-", dir=s3._tmproot)
    try:
        local = [os.path.join(tmp, posixpath.relpath(f, base)) for f in files]
        for path in {os.path.dirname(p) for p in local}:
            os.makedirs(path, exist_ok=True)
        engine = s3.engine
        streams = engine.streams_for(len(files))
        engine.run_batch(
            "get",
            list(zip(files, local, strict=True)),
            lambda item, progress: engine.download(*item[0].split("/", 1), item[1], streams, progress),
        )
        local_ds = ds.dataset(
            local, schema=dataset.schema, format="parquet", partitioning=dataset.partitioning,
            partition_base_dir=tmp,
        )  # fmt: skip
        return local_ds.to_table(columns=columns, filter=expr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_pandas(
    paths_or_prefix: str | Sequence[Any], columns: list[str] | None = None, filters: Filters = None,
    s3: S3 | None = None, **kwargs: Any,
) -> pd.DataFrame:  # fmt: skip
    """:func:`read_table` then ``to_pandas()`` (Arrow-backed strings stay zero-copy where possible)."""
    return read_table(paths_or_prefix, columns=columns, filters=filters, s3=s3, **kwargs).to_pandas()


def write_table(
    table_or_df: pa.Table | pd.DataFrame, s3_prefix: str, partition_cols: list[str] | None = None,
    s3: S3 | None = None, *, max_rows_per_file: int = 0,
) -> list[str]:  # fmt: skip
    """Write a (hive-partitioned) Parquet dataset under ``s3_prefix``; return the file URLs.

    File names carry a fresh UUID, so writing twice to one prefix adds files (append) rather
    than overwriting: write each version to its own prefix (``S3(run=self)``'s root is one).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    from airflow_ml_provider.data.s3 import S3

    table = table_or_df
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table_or_df)  # a labelled index is kept as columns, as pandas does
    own = s3 is None
    s3 = s3 or S3()
    written: list[str] = []
    try:
        ds.write_dataset(
            table, _strip(s3_prefix).rstrip("/"), filesystem=arrow_filesystem(s3), format="parquet",
            partitioning=partition_cols or None, partitioning_flavor="hive" if partition_cols else None,
            basename_template=f"part-{uuid.uuid4().hex[:12]}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore", max_rows_per_file=max_rows_per_file, create_dir=False,
            max_rows_per_group=min(max_rows_per_file or 1 << 20, 1 << 20),
            file_visitor=lambda f: written.append(f"s3://{f.path}"),
        )  # fmt: skip
    finally:
        if own:
            s3.close()
    return sorted(written)
