"""``[core] xcom_backend = airflow_ml_provider.xcom.ArtifactXComBackend``.

Ordinary TaskFlow tasks then keep their XCom values in the flows' artifact store
(``[ml_provider] artifact_root``, local folder or S3): see :mod:`airflow_ml_provider.xcom.reference`
for what stays inline and what becomes a reference, and :mod:`airflow_ml_provider.xcom.gc` for
how blobs are deleted. Airflow runs this class on workers only; the UI and the REST API show the
reference (with its preview) as the XCom value.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow.sdk.bases.xcom import BaseXCom

from airflow_ml_provider.datastore.backend import StorageBackend, get_backend
from airflow_ml_provider.xcom import reference

log = logging.getLogger(__name__)

_backends: dict[str, StorageBackend] = {}
_lock = threading.Lock()


def store_backend() -> StorageBackend:
    """The configured artifact store, built once per process (an S3 client costs a connection lookup)."""
    from airflow_ml_provider.config import artifact_root

    root = artifact_root()
    with _lock:
        if root not in _backends:
            _backends[root] = get_backend(root)
        return _backends[root]


class ArtifactXComBackend(BaseXCom):
    """XCom values in the artifact store: columnar DataFrames, content dedup, a small DB reference.

    Subclass and set ``INLINE_MAX_BYTES`` to change how large a plain JSON value may be and still
    stay in the Airflow database.
    """

    INLINE_MAX_BYTES: int = reference.INLINE_MAX_BYTES

    @classmethod
    def _serialize(cls, value: Any, where: str) -> Any:
        if reference.stays_inline(value, cls.INLINE_MAX_BYTES):
            return BaseXCom.serialize_value(value)
        ref = reference.store_value(value, store_backend())
        log.info(
            "XCom %s: %s of %d bytes stored as %s blob %s (%s)",
            where, ref["type"], ref["size"], ref["serializer"], ref["key"][:12],
            "new" if ref["written"] else "already in the store",
        )  # fmt: skip
        return BaseXCom.serialize_value(ref)

    @classmethod
    def serialize_value(  # type: ignore[override]
        cls,
        value: Any,
        *,
        key: str | None = None,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> Any:
        """Inline small JSON, else store the value and return its reference (what the DB keeps)."""
        where = f"{dag_id}.{task_id}[{map_index}] {key!r}"
        return cls._serialize(value, where)

    @classmethod
    def deserialize_value(cls, result: Any) -> Any:  # type: ignore[override]
        """The stored value for a reference, the inline value otherwise."""
        value = BaseXCom.deserialize_value(result)
        if reference.is_reference(value):
            return reference.load_value(value, store_backend())
        return value

    @classmethod
    def purge(cls, xcom: Any, *args: Any) -> None:
        """Delete nothing: the blob may be shared by other references (``python -m airflow_ml_provider.xcom gc``)."""
        return None
