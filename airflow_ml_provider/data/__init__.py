"""Data access at scale for steps: a fast S3 client, Parquet tables, and foreach sharding.

``S3`` (:mod:`.s3`; what it returns and raises: :mod:`.objects`), ``read_table`` /
``read_pandas`` / ``write_table`` (:mod:`.tables`) and ``shard`` (:mod:`.sharding`). Importing
this package loads neither boto3 nor pyarrow.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "S3", "S3Error", "S3NotFound", "S3Object", "S3PutObject", "read_pandas", "read_table", "shard", "write_table",
]  # fmt: skip

_WHERE = {
    "S3": "s3", "S3Error": "objects", "S3NotFound": "objects", "S3Object": "objects", "S3PutObject": "objects",
    "read_table": "tables", "read_pandas": "tables", "write_table": "tables", "shard": "sharding",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
