"""What a task holds: its artifacts (metadata now, values on access) and its stored exception."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_ml_provider.client.lineage import InheritedTags
from airflow_ml_provider.dsl.exceptions import StepException

if TYPE_CHECKING:
    from airflow_ml_provider.client.core import Task


class StoredException(StepException):
    """A task's stored exception: Metaflow's object, also readable as the stored dict (``exc["type"]``).

    ``.type`` is the qualified class name when the record has it (``builtins.ValueError``);
    ``exc["type"]`` is the stored short name (``ValueError``, ``StepInterrupted``, ``NoHeartbeat``).
    """

    record: dict[str, Any]

    @classmethod
    def of(cls, record: dict[str, Any]) -> StoredException:
        obj = cls()
        obj.record = record
        obj.type = str(record.get("qualified_type") or record.get("type") or "")
        obj.exception, obj.stacktrace = str(record.get("message") or ""), str(record.get("traceback") or "")
        return obj

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.record.get(key, default)


class DataArtifact(InheritedTags):
    """One artifact of a task: metadata now, value on ``.data``."""

    def __init__(self, task: Task, name: str, record: dict[str, Any]) -> None:
        self.task = task
        self.id = name
        self.record = record

    @property
    def data(self) -> Any:
        """The value; :class:`ArtifactIntegrityError` if its stored bytes are missing or corrupt."""
        return self.task._store.load_artifact(self.record, self.pathspec)

    @property
    def sha(self) -> str:
        return self.record["key"]

    @property
    def type(self) -> str:
        return self.record["type"]

    @property
    def size(self) -> int:
        return self.record["size"]

    @property
    def preview(self) -> dict[str, Any]:
        return self.record.get("preview", {})

    @property
    def pathspec(self) -> str:
        return f"{self.task.pathspec}/{self.id}"

    def __repr__(self) -> str:
        return f"DataArtifact('{self.pathspec}')"


class _Data:
    """``task.data.x`` loads artifact ``x``."""

    def __init__(self, task: Task) -> None:
        self._task = task

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._task[name].data
        except KeyError:
            raise AttributeError(f"{self._task.pathspec} has no artifact {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted(self._task.artifacts)

    def __contains__(self, name: str) -> bool:
        return name in self._task.artifacts

    def __repr__(self) -> str:
        return f"<data of {self._task.pathspec}: {', '.join(sorted(self._task.artifacts))}>"
