"""XCom values in the artifact store: what stays inline, what becomes a reference (no Airflow import).

Policy (``ArtifactXComBackend`` applies it; FORMAT.md "XCom values" documents it):

* Inline, exactly as Airflow's default backend stores it: a value built only from ``None``, bool,
  int, float (finite), str, list, tuple and dict with str keys, whose JSON is at most
  :data:`INLINE_MAX_BYTES`. Task-id lists returned by flow operators, counters and small configs
  stay readable in the UI and cost no store round trip.
* Everything else (DataFrames, Arrow tables, numpy arrays, any object, large JSON) is saved with
  :meth:`FlowDatastore.save_artifact` under the pseudo-flow :data:`NAMESPACE`, so it gets the
  flow serializers (Arrow IPC, ``.npy``, pickle) and content-addressed dedup across all DAGs, and
  the Airflow database keeps only a reference of at most about :data:`REFERENCE_MAX_BYTES`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from airflow_ml_provider.datastore import ArtifactIntegrityError
from airflow_ml_provider.datastore.backend import StorageBackend
from airflow_ml_provider.datastore.flow_store import FlowDatastore

NAMESPACE = "_xcom"  # <root>/_xcom/data/<k[:2]>/<k>; names starting with "_" are not flows
MARKER = "__ml_xcom__"
FORMAT_VERSION = 1
INLINE_MAX_BYTES = 4096
PREVIEW_MAX_BYTES = 4096
REFERENCE_MAX_BYTES = PREVIEW_MAX_BYTES + 1024
_TEXT_CUT = 1000


def _plain_json(value: Any, depth: int = 0) -> bool:
    """True for a tree of JSON types (and tuples) that Airflow's serde stores verbatim."""
    if depth > 50:
        return False
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)  # NaN/inf are not JSON (PostgreSQL's json type refuses them)
    if isinstance(value, list | tuple):
        return all(_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def stays_inline(value: Any, limit: int = INLINE_MAX_BYTES) -> bool:
    """Whether ``value`` is kept in the Airflow database as is (see the module docstring)."""
    if type(value) in (int, float, bool, str) or value is None:
        if not isinstance(value, str):
            return _plain_json(value)
        return len(value.encode()) + 2 <= limit
    if isinstance(value, dict) and MARKER in value:
        return False  # would read back as a reference: store it instead
    if not _plain_json(value):
        return False
    try:
        return len(json.dumps(value, allow_nan=False, separators=(",", ":"))) <= limit
    except (TypeError, ValueError, RecursionError):
        return False


def is_reference(value: Any) -> bool:
    """Whether a value read from the Airflow database is one of our references."""
    return isinstance(value, dict) and value.get(MARKER) == FORMAT_VERSION and isinstance(value.get("key"), str)


def _size(doc: Any) -> int:
    return len(json.dumps(doc, default=str, separators=(",", ":")))


def small_preview(preview: dict[str, Any], limit: int = PREVIEW_MAX_BYTES) -> dict[str, Any]:
    """Shrink a flow-artifact preview (up to 96 KB) to fit ``limit`` bytes of the XCom row."""
    if _size(preview) <= limit:
        return preview
    doc = dict(preview)
    for field in ("rows", "values"):
        if isinstance(doc.get(field), list):
            items = doc[field]
            for n in (10, 5, 2, 0):
                doc[field] = items[:n]
                doc["truncated"] = True
                if _size(doc) <= limit:
                    return doc
    if isinstance(doc.get("text"), str):
        doc["text"] = doc["text"][:_TEXT_CUT] + ("…" if len(doc["text"]) > _TEXT_CUT else "")
        doc["truncated"] = True
        if _size(doc) <= limit:
            return doc
    if isinstance(doc.get("columns"), list):
        doc["columns"] = doc["columns"][:10]
        if _size(doc) <= limit:
            return doc
    keep = {k: doc[k] for k in ("kind", "shape", "dtype") if k in doc}
    keep["note"] = "preview too large for an XCom reference"
    return keep


def store_value(value: Any, backend: StorageBackend) -> dict[str, Any]:
    """Save ``value`` content-addressed under :data:`NAMESPACE`; return the reference to keep in the DB."""
    record = FlowDatastore(NAMESPACE, backend).save_artifact("xcom", value)
    if not record["written"]:
        # a dedup hit re-uses a blob that may be old and unreferenced: tell the GC it is live again
        backend.write(touch_path(record["key"]), b"")
    return {
        MARKER: FORMAT_VERSION,
        "store": NAMESPACE,
        "key": record["key"],
        "checksum": record["checksum"],
        "serializer": record["serializer"],
        "type": record["type"],
        "size": record["size"],
        "preview": small_preview(record["preview"]),
        "written": record["written"],
    }


def touch_path(key: str) -> str:
    """Marker whose age the GC reads as the blob's last use (written on every dedup hit)."""
    return f"{NAMESPACE}/touch/{key}"


def load_value(reference: dict[str, Any], backend: StorageBackend) -> Any:
    """The value behind a reference made by :func:`store_value` (a missing blob raises clearly)."""
    store = FlowDatastore(reference.get("store") or NAMESPACE, backend)
    try:
        return store.load_artifact(reference, "XCom value")  # a rotten blob: ArtifactIntegrityError
    except ArtifactIntegrityError:
        if backend.exists(store.blob_path(reference["key"])):
            raise
        raise FileNotFoundError(
            f"XCom blob {reference['key']} ({reference.get('type')}) is missing from artifact root "
            f"{backend.describe()}: was the root changed, or the blob deleted by hand or by a GC "
            "against another Airflow database?"
        ) from None
