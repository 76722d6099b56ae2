"""Garbage collection of XCom blobs: mark from the Airflow database, sweep the store.

Why not in ``purge``: blobs are content-addressed, so one blob may back many XCom rows (two tasks
returning the same DataFrame, every run of a DAG returning the same lookup table), and Airflow 3
workers, where ``purge`` runs, cannot query the database to count them. So ``purge`` deletes
nothing, and this sweep (``python -m airflow_ml_provider.xcom gc``, run where the Airflow
database is reachable) deletes a blob under ``<root>/_xcom/data/`` only when

1. no row of the ``xcom`` table references its key, read AFTER the store was listed (a blob
   written later is never a candidate), and
2. neither the blob nor its touch marker (``_xcom/touch/<key>``, rewritten on every dedup hit)
   changed for ``min_age`` (default 24 h), re-checked right before deleting, which covers a push
   whose row is not committed yet and a push that re-used an old blob.

The one residual window is a dedup hit landing in the milliseconds between that re-check and
the delete of the same blob; the task would then fail on read with a "blob is missing" error
and a rerun writes the blob again. One Airflow database per ``_xcom`` namespace: a second Airflow
sharing the artifact root would see the first one's blobs as unreferenced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_ml_provider.datastore.backend import StorageBackend
from airflow_ml_provider.xcom.reference import NAMESPACE, is_reference, touch_path

DATA = f"{NAMESPACE}/data"
TOUCH = f"{NAMESPACE}/touch"


@dataclass
class GCReport:
    """What a sweep saw and did (printed by the CLI as JSON)."""

    blobs: int = 0
    referenced: int = 0
    too_recent: int = 0
    deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "deleted": len(self.deleted), "deleted_keys": self.deleted[:100]}


def list_objects(backend: StorageBackend, prefix: str) -> dict[str, tuple[float, int]]:
    """``{relative path: (mtime epoch, size)}`` of every object below ``prefix``."""
    return {path: (info.mtime, info.size) for path, info in backend.walk(prefix).items()}


def delete_objects(backend: StorageBackend, paths: list[str]) -> None:
    """Delete ``paths`` (relative to the root); absent ones are fine."""
    backend.delete_many(paths)


def _key_of(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def referenced_keys(values: Iterable[Any]) -> set[str]:
    """Blob keys named by XCom row values (dicts, or JSON text on databases that return it)."""
    keys: set[str] = set()
    for value in values:
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if is_reference(value):
            keys.add(value["key"])
    return keys


def referenced_keys_from_db() -> set[str]:
    """Keys referenced by the configured Airflow database's ``xcom`` table (needs DB access)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import Text, cast, select

    query = select(XComModel.value).where(cast(XComModel.value, Text).like("%ml_xcom%"))
    with create_session() as session:
        return referenced_keys(session.scalars(query.execution_options(yield_per=2000)))


def sweep(
    backend: StorageBackend,
    find_references: Any = referenced_keys_from_db,
    *,
    min_age_s: float = 24 * 3600,
    dry_run: bool = False,
    now: float | None = None,
) -> GCReport:
    """Delete unreferenced, unused blobs of the ``_xcom`` namespace (see the module docstring)."""
    report = GCReport(dry_run=dry_run)
    blobs = list_objects(backend, DATA)  # 1. list first ...
    report.blobs = len(blobs)
    live = find_references()  # ... then read references: a row committed before listing is seen
    report.referenced = len(live & {_key_of(p) for p in blobs})
    now = time.time() if now is None else now
    touches = list_objects(backend, TOUCH)
    candidates = []
    for path, (mtime, size) in blobs.items():
        key = _key_of(path)
        if key in live:
            continue
        touched = touches.get(touch_path(key), (0.0, 0))[0]
        if now - max(mtime, touched) < min_age_s:
            report.too_recent += 1
            continue
        candidates.append((path, key, size))
    if candidates and not dry_run:
        touches = list_objects(backend, TOUCH)  # 2. re-check last use right before deleting
        doomed = [(p, k, s) for p, k, s in candidates if now - touches.get(touch_path(k), (0.0, 0))[0] >= min_age_s]
        report.too_recent += len(candidates) - len(doomed)
        candidates = doomed
        delete_objects(backend, [p for p, _k, _s in candidates])
        delete_objects(backend, [touch_path(k) for _p, k, _s in candidates if touch_path(k) in touches])
    report.deleted = [k for _p, k, _s in candidates]
    report.bytes_freed = sum(s for _p, _k, s in candidates)
    # touch markers whose blob is gone (deleted by hand, or by an earlier sweep) are dropped too
    orphans = [p for p in touches if _key_of(p) not in {_key_of(b) for b in blobs}]
    if orphans and not dry_run:
        delete_objects(backend, orphans)
    return report
