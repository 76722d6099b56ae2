"""Deterministic payloads for the large-data and dedup benchmarks (importable from flow steps).

``dataframe``: int64, float64, datetime64 and string columns (pandas' default ``str`` dtype),
sized so that its Arrow IPC form is about ``mb`` MiB. ``ndarray``: float64, ``mb`` MiB.
``dict``: a million small dicts ``{"i": int, "x": float, "s": str}`` (``mb`` ignored; JSON-able,
so the XCom backend can carry it too). Same arguments, same bytes: a re-run deduplicates.
"""

from __future__ import annotations

from typing import Any

MIB = 1 << 20


def _frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    words = np.array([f"customer-{i:06d}" for i in range(5000)], dtype=object)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "amount": rng.gamma(2.0, 50.0, rows),
            "score": rng.random(rows),
            "day": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(rows), unit="s"),
            "customer": pd.array(words[rng.integers(0, len(words), rows)], dtype="str"),
        }
    )


def frame_ipc_bytes_per_row() -> float:
    import pyarrow as pa

    probe = 100_000
    table = pa.Table.from_pandas(_frame(probe), preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().size / probe


def make_payload(kind: str, mb: int) -> Any:
    if kind == "dataframe":
        return _frame(int(mb * MIB / frame_ipc_bytes_per_row()))
    if kind == "ndarray":
        import numpy as np

        return np.random.default_rng(0).random(mb * MIB // 8)
    if kind == "dict":
        return {f"key{i}": {"i": i, "x": i * 0.5, "s": f"v{i}"} for i in range(1_000_000)}
    raise ValueError(f"unknown payload kind {kind!r}")


def payload_len(value: Any) -> int:
    return len(value)
