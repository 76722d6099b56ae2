"""Artifact serializers: columnar Arrow IPC for tables, ``.npy`` for arrays, pickle otherwise.

Arrow IPC (uncompressed) was chosen over Parquet because a step-to-step round trip is dominated
by encode/decode time, and IPC is a near memcpy in both directions (Parquet re-encodes every
column); it also reads zero-copy from a memory-mapped local file. Types are recognised by module
name first so plain Python values never trigger a pandas or pyarrow import.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_ml_provider.errors import MLProviderError


class ArtifactSerializationError(MLProviderError, TypeError):
    """An artifact that no serializer can store."""


@dataclass(frozen=True)
class Serializer:
    name: str
    matches: Callable[[Any], bool]
    dump: Callable[[Any], bytes | memoryview]
    load: Callable[[bytes | memoryview], Any]


def _module_of(value: Any) -> str:
    return type(value).__module__.split(".", 1)[0]


def _is_arrow_table(value: Any) -> bool:
    if _module_of(value) != "pyarrow":
        return False
    import pyarrow as pa

    return isinstance(value, pa.Table)


def _is_dataframe(value: Any) -> bool:
    if _module_of(value) != "pandas":
        return False
    import pandas as pd

    return isinstance(value, pd.DataFrame) and _arrow_faithful(value)


def _is_series(value: Any) -> bool:
    if _module_of(value) != "pandas":
        return False
    import pandas as pd

    return isinstance(value, pd.Series) and _arrow_faithful(value.to_frame(name=_SERIES_COLUMN))


def _arrow_faithful(df: Any) -> bool:
    """Whether Arrow gives this frame back unchanged; when not, it is pickled instead.

    Arrow would silently turn non-str column labels into strings (1 and "1" collide), dict/list
    cells into structs padded with None, object columns of ints into int64, and a PeriodIndex
    into its integer ordinals in a process that reads it back.
    """
    import pandas as pd

    labels = list(df.columns)
    if not all(isinstance(c, str) for c in labels) or len(set(labels)) != len(labels):
        return False
    odd = (pd.PeriodDtype, pd.IntervalDtype)
    indexes = df.index.levels if isinstance(df.index, pd.MultiIndex) else [df.index]
    if any(isinstance(ix.dtype, odd) or (_is_object(ix.dtype) and not _only_strings(ix)) for ix in indexes):
        return False
    for dtype, column in zip(df.dtypes, df.columns, strict=True):
        if isinstance(dtype, odd) or (_is_object(dtype) and not _only_strings(df[column])):
            return False
    return True


def _is_object(dtype: Any) -> bool:
    return getattr(dtype, "kind", None) == "O" and not hasattr(dtype, "na_value")  # not pandas' str dtype


def _only_strings(values: Any) -> bool:
    from pandas.api.types import infer_dtype

    return infer_dtype(values, skipna=True) in ("string", "empty")


def _is_plain_ndarray(value: Any) -> bool:
    if _module_of(value) != "numpy":
        return False
    import numpy as np

    return type(value) is np.ndarray and not value.dtype.hasobject


def _write_ipc(table: Any) -> memoryview:
    """The table as an Arrow IPC stream, written once into a buffer of exactly the right size.

    A first pass into ``MockOutputStream`` only counts bytes (no data is touched); a growing
    ``BufferOutputStream`` would instead re-copy everything on each reallocation. Same bytes.
    """
    import pyarrow as pa

    counter = pa.MockOutputStream()
    with pa.ipc.new_stream(counter, table.schema) as writer:
        writer.write_table(table)
    buffer = pa.allocate_buffer(counter.size())
    with pa.ipc.new_stream(pa.FixedSizeBufferWriter(buffer), table.schema) as writer:
        writer.write_table(table)
    return memoryview(buffer)


def _read_ipc(data: bytes | memoryview) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def _dump_dataframe(df: Any) -> memoryview:
    import pyarrow as pa

    return _write_ipc(pa.Table.from_pandas(df, preserve_index=True))


def _load_dataframe(data: bytes | memoryview) -> Any:
    return _read_ipc(data).to_pandas()


_SERIES_COLUMN = "__series__"


def _dump_series(series: Any) -> memoryview:
    import pyarrow as pa

    frame = series.to_frame(name=_SERIES_COLUMN)
    table = pa.Table.from_pandas(frame, preserve_index=True)
    name = pickle.dumps(series.name) if series.name is not None else b""
    return _write_ipc(table.replace_schema_metadata({**table.schema.metadata, b"series_name": name}))


def _load_series(data: bytes | memoryview) -> Any:
    table = _read_ipc(data)
    raw_name = (table.schema.metadata or {}).get(b"series_name", b"")
    series = table.to_pandas()[_SERIES_COLUMN]
    # the name was pickled by our own writer from a hashable pandas label; it is never user bytes
    series.name = pickle.loads(raw_name) if raw_name else None
    return series


def _dump_ndarray(array: Any) -> bytes | memoryview:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getbuffer()


def _load_ndarray(data: bytes | memoryview) -> Any:
    """One copy out of ``data`` (often a read-only memory map) into a writeable array.

    ``np.load(io.BytesIO(data))`` copies the whole blob into the BytesIO, then reads it back in
    256 KiB chunks (two more copies of every byte); here the ``.npy`` header is parsed with
    numpy's own reader and the data is copied once. Anything unusual goes through ``np.load``.
    """
    import numpy as np
    from numpy.lib import format as npy

    view = memoryview(data).cast("B")
    if len(view) >= 10 and bytes(view[:6]) == npy.MAGIC_PREFIX and view[6] in (1, 2):
        size_bytes = 2 if view[6] == 1 else 4
        offset = 8 + size_bytes + int.from_bytes(view[8 : 8 + size_bytes], "little")
        header = io.BytesIO(bytes(view[:offset]))
        version = npy.read_magic(header)
        reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, fortran_order, dtype = reader(header)
        count = 1
        for dim in shape:
            count *= dim
        if not dtype.hasobject and dtype.itemsize > 0 and offset + count * dtype.itemsize == len(view):
            flat = np.frombuffer(view, dtype=dtype, count=count, offset=offset)
            if fortran_order:
                return flat.reshape(shape[::-1]).transpose().copy(order="F")
            return flat.reshape(shape).copy()
    return np.load(io.BytesIO(data), allow_pickle=False)


# Flow files are imported under this prefix (runtime.loader), so a class defined in one pickles as
# "<prefix><hash>.Name": importable only where the flow file was loaded.
FLOW_MODULE_PREFIX = "ml_flow_"


def _dump_pickle(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def _load_pickle(data: bytes | memoryview) -> Any:
    return pickle.loads(data)


SERIALIZERS: list[Serializer] = [
    Serializer("arrow-table", _is_arrow_table, _write_ipc, _read_ipc),
    Serializer("pandas-dataframe", _is_dataframe, _dump_dataframe, _load_dataframe),
    Serializer("pandas-series", _is_series, _dump_series, _load_series),
    Serializer("numpy-npy", _is_plain_ndarray, _dump_ndarray, _load_ndarray),
    Serializer("pickle", lambda _value: True, _dump_pickle, _load_pickle),
]
_BY_NAME = {s.name: s for s in SERIALIZERS}


def serialize(name: str, value: Any) -> tuple[str, bytes | memoryview]:
    """Return ``(serializer name, bytes)`` for artifact ``name``.

    A DataFrame that Arrow cannot give back unchanged (see ``_arrow_faithful``) is pickled;
    a value that pickle cannot store raises an error naming the artifact.
    """
    for serializer in SERIALIZERS:
        if not serializer.matches(value):
            continue
        try:
            return serializer.name, serializer.dump(value)
        except Exception as exc:
            if serializer.name == "pickle":
                raise ArtifactSerializationError(
                    f"artifact {name!r} of type {type(value).__module__}.{type(value).__qualname__} "
                    f"cannot be stored: {exc}. Keep such objects in local variables, not on self."
                ) from exc
            continue
    raise AssertionError("the pickle serializer matches everything")


def deserialize(serializer_name: str, data: bytes | memoryview) -> Any:
    try:
        serializer = _BY_NAME[serializer_name]
    except KeyError:
        raise ValueError(f"unknown serializer {serializer_name!r}") from None
    return serializer.load(data)


def type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
