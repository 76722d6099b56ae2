"""``shard``: split a dataset's files among the tasks of a foreach, balanced by size.

The foreach pattern (each task loads its share of a Parquet dataset into memory)::

    from airflow_ml_provider import S3, FlowSpec, step
    from airflow_ml_provider.data import read_pandas, shard

    class Train(FlowSpec):
        @step
        def start(self):
            with S3() as s3:
                files = [(o.url, o.size) for o in s3.list_recursive(["s3://bucket/events/"])
                         if o.url.endswith(".parquet")]
            self.parts = [shard(files, 16, i) for i in range(16)]   # 16 lists of (url, size)
            self.next(self.load, foreach="parts")

        @step
        def load(self):
            df = read_pandas([url for url, _ in self.input], columns=["user", "amount"])
            ...

``shard`` is deterministic (same listing, same answer in every task), so a task may also call
``shard(files, n, my_index)`` itself instead of receiving its list through the foreach.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _url_and_size(item: Any) -> tuple[str, int | None]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return str(item[0]), None if item[1] is None else int(item[1])
    url = getattr(item, "url", None)
    if url is None:
        raise TypeError(f"shard() takes URLs, (url, size) pairs or S3Objects, not {type(item).__name__}")
    size = getattr(item, "size", None)
    return str(url), None if size is None else int(size)


def shard(paths: Sequence[T], num_shards: int, index: int) -> list[T]:
    """The items of shard ``index`` out of ``num_shards``, in their original order.

    With sizes for every item (``(url, size)`` pairs or S3Objects) shards are balanced by bytes:
    largest first onto the lightest shard, ties broken by URL. Without sizes: round robin over the
    URL-sorted listing. Either way every item lands in exactly one shard.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, not {num_shards}")
    if not 0 <= index < num_shards:
        raise ValueError(f"index must be in [0, {num_shards}), not {index}")
    keyed = [(*_url_and_size(p), i) for i, p in enumerate(paths)]
    owner: dict[int, int] = {}
    if keyed and all(size is not None for _, size, _ in keyed):
        loads = [(0, s) for s in range(num_shards)]  # (bytes, shard) min-heap
        for _url, size, i in sorted(keyed, key=lambda k: (-(k[1] or 0), k[0], k[2])):
            load, s = heapq.heappop(loads)
            owner[i] = s
            heapq.heappush(loads, (load + (size or 0), s))
    else:
        for rank, (_url, _size, i) in enumerate(sorted(keyed, key=lambda k: (k[0], k[2]))):
            owner[i] = rank % num_shards
    return [p for i, p in enumerate(paths) if owner[i] == index]
