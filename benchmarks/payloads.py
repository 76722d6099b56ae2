"""Deterministic payloads for the large-data and dedup benchmarks (importable from flow steps).

``dataframe``: int64, float64, datetime64 and string columns (pandas' default ``str`` dtype),
sized so that its Arrow IPC form is about ``mb`` MiB; random floats, so it barely compresses.
``dataframe-text``: the compressible variant, as business data looks: a category column (country),
low-cardinality strings (status, product name), free-ish text from a small vocabulary, small ints,
prices rounded to cents, timestamps; also about ``mb`` MiB as Arrow IPC. ``ndarray``: float64, ``mb`` MiB.
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


def _text_frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    countries = ["DE", "FR", "US", "GB", "IN", "BR", "JP", "ES", "IT", "NL", "SE", "PL"]
    status = np.array(["new", "paid", "shipped", "delivered", "returned", "cancelled"], dtype=object)
    products = np.array([f"product {i:04d} {('basic', 'pro', 'max')[i % 3]}" for i in range(800)], dtype=object)
    vocab = np.array(
        [
            "the",
            "order",
            "was",
            "shipped",
            "late",
            "on",
            "time",
            "to",
            "customer",
            "with",
            "damaged",
            "box",
            "refund",
            "ok",
        ],
        dtype=object,
    )
    notes = np.array([" ".join(vocab[rng.integers(0, len(vocab), 6)]) for _ in range(20_000)], dtype=object)
    return pd.DataFrame(
        {
            "order_id": np.arange(rows, dtype="int64"),
            "country": pd.Categorical.from_codes(rng.integers(0, len(countries), rows), countries),
            "status": pd.array(status[rng.integers(0, len(status), rows)], dtype="str"),
            "product": pd.array(products[rng.integers(0, len(products), rows)], dtype="str"),
            "quantity": rng.integers(1, 10, rows).astype("int64"),
            "price": np.round(rng.gamma(2.0, 20.0, rows), 2),
            "created": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(rows) // 7, unit="s"),
            "note": pd.array(notes[rng.integers(0, len(notes), rows)], dtype="str"),
        }
    )


FRAMES = {"dataframe": _frame, "dataframe-text": _text_frame}


def frame_ipc_bytes_per_row(kind: str = "dataframe") -> float:
    import pyarrow as pa

    probe = 100_000
    table = pa.Table.from_pandas(FRAMES[kind](probe), preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().size / probe


def make_payload(kind: str, mb: int) -> Any:
    if kind in FRAMES:
        return FRAMES[kind](int(mb * MIB / frame_ipc_bytes_per_row(kind)))
    if kind == "ndarray":
        import numpy as np

        return np.random.default_rng(0).random(mb * MIB // 8)
    if kind == "dict":
        return {f"key{i}": {"i": i, "x": i * 0.5, "s": f"v{i}"} for i in range(1_000_000)}
    raise ValueError(f"unknown payload kind {kind!r}")


def payload_len(value: Any) -> int:
    return len(value)


def touch(value: Any) -> float:
    """Read every element as user code would, so a lazy (memory-mapped) load cannot skip any.

    Numbers and timestamps: summed; strings and categories: hashed with
    ``pandas.util.hash_pandas_object`` (reads every byte of every value); an ndarray: summed;
    a dict of dicts: every inner value visited. Returns a number so nothing is optimized away.
    """
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        total = 0.0
        for name in value.columns:
            col = value[name]
            if pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(col.dtype, pd.CategoricalDtype):
                total += float(col.sum())
            elif pd.api.types.is_datetime64_any_dtype(col.dtype):
                total += float(col.astype("int64").sum())
            else:
                total += float(pd.util.hash_pandas_object(col, index=False).to_numpy()[::4096].sum())
        return total
    if isinstance(value, np.ndarray):
        return float(value.sum())
    return float(sum(len(v) for v in value.values()))
