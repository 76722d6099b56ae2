"""``Task.metadata``: this package's attempt record that also reads as Metaflow's metadata list.

Metaflow's ``task.metadata`` is a list of ``Metadata(name, value, created_at, type, task)``
entries (one ``attempt`` entry per attempt the task made, ``origin-run-id`` in a resumed run...);
this package's users read the attempt record by key (``task.metadata["status"]``). Decision: one
object serves both. Key access, ``get``, ``keys``/``items`` and ``json.dumps`` see the record, as
before; iterating yields Metaflow's entries, so ``[m.value for m in task.metadata if m.type ==
"attempt"]`` works unchanged. ``len()`` stays the record's (a dict's) length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple


class Metadata(NamedTuple):
    """One metadata entry, as Metaflow's client gives it."""

    name: str
    value: str
    created_at: int  # milliseconds since the epoch, as Metaflow's
    type: str
    task: Any


class TaskMetadata(dict):
    """The attempt record (a dict) whose iteration yields :class:`Metadata` entries."""

    def __init__(self, record: dict[str, Any], entries: Callable[[], list[Metadata]]) -> None:
        super().__init__(record)
        self._entries = entries

    def __iter__(self) -> Iterator[Metadata]:  # type: ignore[override]
        return iter(self._entries())
