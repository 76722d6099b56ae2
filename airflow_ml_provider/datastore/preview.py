"""Small, safe previews computed when an artifact is written.

The UI and API server show these JSON documents and never load artifact bytes (which may be
pickles). Every preview is bounded: at most ``MAX_ROWS`` rows, ``MAX_COLUMNS`` columns, cells cut
to ``MAX_CELL`` characters, and the whole document to ``MAX_PREVIEW_BYTES``. Secrets are masked
before anything is cut (see :mod:`.redact`): a preview never shows an environment dump's keys.
"""

from __future__ import annotations

import base64
import contextvars
import io
import json
import math
import reprlib
from typing import Any

from airflow_ml_provider.datastore.redact import MASK, Masker, looks_secret, mask_table

MAX_ROWS = 50
MAX_COLUMNS = 40
MAX_CELL = 120
MAX_TEXT = 2000
MAX_VALUES = 20
MAX_PREVIEW_BYTES = 96 * 1024
MAX_IMAGE_BYTES = 64 * 1024
STATS_SAMPLE = 1_000_000  # array statistics over at most this many evenly spaced values


_REPR = reprlib.Repr()
_REPR.maxstring = MAX_TEXT
_REPR.maxother = MAX_TEXT
_REPR.maxlist = _REPR.maxdict = _REPR.maxset = _REPR.maxtuple = 200


def _bounded_repr(value: Any) -> str:
    """repr() that stops early on big containers (plain repr of a huge object costs seconds)."""
    try:
        return _REPR.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


_MASKED = {"kind": "text", "text": MASK, "masked": True}
_MASKER: contextvars.ContextVar[Masker | None] = contextvars.ContextVar("ml_preview_masker", default=None)


def _cut(text: str, limit: int = MAX_CELL) -> str:
    masker = _MASKER.get()
    if masker is not None:  # mask first: a cut must not leave half a secret behind
        text = masker.text(text[: limit + 512])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return _cut(str(value))


def _table_preview(table: Any, dtypes: list[str]) -> dict[str, Any]:
    """``table`` is a pyarrow Table (pandas frames are converted by the caller)."""
    names = table.column_names[:MAX_COLUMNS]
    head = table.select(names).slice(0, MAX_ROWS).to_pylist()
    return {
        "kind": "table",
        "shape": [table.num_rows, table.num_columns],
        "columns": [{"name": _cut(str(n)), "dtype": d} for n, d in zip(names, dtypes, strict=False)],
        "rows": [[_cell(row[n]) for n in names] for row in head],
        "truncated": table.num_rows > MAX_ROWS or table.num_columns > MAX_COLUMNS,
    }


def _dataframe_preview(df: Any) -> dict[str, Any]:
    import pyarrow as pa

    head = df.iloc[:MAX_ROWS, :MAX_COLUMNS]
    head = head.reset_index() if not _is_default_index(head) else head
    head = head.astype(str) if any(str(t) == "object" for t in head.dtypes) else head
    table = pa.Table.from_pandas(head, preserve_index=False)
    dtypes = [str(t) for t in head.dtypes]
    preview = _table_preview(table, dtypes)
    preview["shape"] = list(df.shape)
    preview["truncated"] = df.shape[0] > MAX_ROWS or df.shape[1] > MAX_COLUMNS
    return preview


def _is_default_index(df: Any) -> bool:
    import pandas as pd

    return isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1


def _array_preview(array: Any) -> dict[str, Any]:
    import numpy as np

    preview: dict[str, Any] = {"kind": "array", "shape": list(array.shape), "dtype": str(array.dtype)}
    flat = array.reshape(-1)  # a view for contiguous arrays
    preview["values"] = [_cell(v) for v in flat[:MAX_VALUES].tolist()]
    numeric = np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)
    if flat.size and numeric:
        # A bounded, evenly spaced sample: whole-array nan-statistics copy the array several times
        # (seconds for 512 MB); min/max/mean/std of a 1M sample describe it well enough to look at.
        step = max(1, flat.size // STATS_SAMPLE)
        sample = flat[::step]
        with np.errstate(all="ignore"):
            preview["stats"] = {
                "min": _cell(float(np.nanmin(sample))),
                "max": _cell(float(np.nanmax(sample))),
                "mean": _cell(float(np.nanmean(sample))),
                "std": _cell(float(np.nanstd(sample))),
            }
        if step > 1:
            preview["stats_sample"] = int(sample.size)
    return preview


def _image_preview(value: Any) -> dict[str, Any] | None:
    """PNG thumbnail of a matplotlib figure or PIL image, if small enough."""
    module = type(value).__module__
    buffer = io.BytesIO()
    if module.startswith("matplotlib") and hasattr(value, "savefig"):
        value.savefig(buffer, format="png", dpi=60)
    elif module.startswith("PIL") and hasattr(value, "thumbnail"):
        image = value.copy()
        image.thumbnail((480, 480))
        image.save(buffer, format="PNG")
    else:
        return None
    data = buffer.getvalue()
    if len(data) > MAX_IMAGE_BYTES:
        return {"kind": "text", "text": f"<image of {len(data)} bytes: too large to preview>"}
    return {"kind": "image", "png_base64": base64.b64encode(data).decode()}


def _json_preview(value: Any) -> dict[str, Any]:
    """JSON text of ``value``, encoding only as much as is shown (a 1M-entry dict costs no more)."""
    pieces: list[str] = []
    size = 0
    try:
        for chunk in json.JSONEncoder(default=repr, indent=1).iterencode(value):
            pieces.append(chunk)
            size += len(chunk)
            if size > MAX_TEXT:
                break
        text = "".join(pieces)
    except (TypeError, ValueError, RecursionError):
        text = reprlib.repr(value)
    return {"kind": "json", "text": _cut(text, MAX_TEXT), "truncated": len(text) > MAX_TEXT}


def make_preview(value: Any, serializer: str, name: str | None = None) -> dict[str, Any]:
    """A bounded JSON-able preview of ``value`` with secrets masked; never raises.

    ``name`` is the artifact's name: a secret-looking one (``api_token``) shows only ``***``.
    """
    if looks_secret(name):
        return dict(_MASKED)
    if value is None or isinstance(value, bool | int | float):  # a number hides nothing: no masking cost
        return {"kind": "scalar", "text": _cut(repr(value), MAX_TEXT)}
    masker = Masker()
    token = _MASKER.set(masker)
    try:
        try:
            preview = _make(value, serializer, masker)
        except Exception as exc:  # a preview must never fail a step
            preview = {"kind": "text", "text": f"<no preview: {type(exc).__name__}: {_cut(str(exc))}>"}
        if len(json.dumps(preview)) > MAX_PREVIEW_BYTES:
            preview = {"kind": "text", "text": _cut(_bounded_repr(value), MAX_TEXT)}
        if preview.get("kind") == "table":
            preview = mask_table(preview, masker)
        return masker.document(preview)
    finally:
        _MASKER.reset(token)


def _make(value: Any, serializer: str, masker: Masker) -> dict[str, Any]:
    if serializer == "pandas-dataframe":
        return _dataframe_preview(value)
    if serializer == "pandas-series":
        return _dataframe_preview(value.to_frame())
    if serializer == "arrow-table":
        return _table_preview(value, [str(t) for t in value.schema.types[:MAX_COLUMNS]])
    if serializer == "numpy-npy":
        return _array_preview(value)
    if value is None or isinstance(value, bool | int | float):
        return {"kind": "scalar", "text": _cut(repr(value), MAX_TEXT)}
    if isinstance(value, str):
        return {"kind": "text", "text": _cut(value, MAX_TEXT), "length": len(value)}
    if isinstance(value, dict | list | tuple):
        masked, cut = masker.value(value)
        preview = _json_preview(masked)
        preview["truncated"] = preview["truncated"] or cut
        return preview
    image = _image_preview(value)
    if image is not None:
        return image
    return {"kind": "text", "text": _cut(_bounded_repr(value), MAX_TEXT)}
