"""``current``: what a running step knows about itself (as Metaflow's ``current``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class Current:
    """Read-only view of the running task; attributes are None outside a step."""

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def _set(self, **info: Any) -> None:
        self._info = dict(info)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._info.get(name)

    @property
    def is_running_flow(self) -> bool:
        return bool(self._info)

    @property
    def pathspec(self) -> str | None:
        if not self._info:
            return None
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"

    @property
    def logical_date(self) -> datetime | None:
        value = self._info.get("logical_date")
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    def __repr__(self) -> str:
        return f"current({self._info!r})"


current = Current()
"""Fields: flow_name, run_id, airflow_run_id, dag_id, step_name, task_id, retry_count,
origin_run_id, run_type, username, tags, parameter_names, logical_date, data_interval_start,
data_interval_end, execution_mode, artifact_root, pathspec, is_running_flow."""
