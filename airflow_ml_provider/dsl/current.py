"""``current``: what a running step knows about itself (as Metaflow's ``current``).

Known fields are None outside a step; a name that is not a field raises AttributeError (a typo
such as ``current.run_idd`` must not read as None). The ``@project`` fields (``project_name``,
``branch_name``, ``is_user_branch``, ``is_production``, ``project_flow_name``) exist only in a
flow decorated with ``@project``; elsewhere they raise AttributeError, as in Metaflow. They are
derived from the run's ``project:`` and ``project_branch:`` system tags, so every step of a run
(local process, Airflow worker, pod) sees the branch the run was started on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from airflow_ml_provider.datastore.records import SYSTEM_TAG_PREFIXES

FIELDS = frozenset(
    {
        "flow_name", "run_id", "airflow_run_id", "dag_id", "step_name", "task_id", "retry_count",
        "origin_run_id", "run_type", "username", "tags", "parameter_names", "logical_date",
        "data_interval_start", "data_interval_end", "execution_mode", "artifact_root", "namespace",
        "resume_step", "card",
    }
)  # fmt: skip
PROJECT_FIELDS = ("project_name", "branch_name", "is_user_branch", "is_production", "project_flow_name")


def project_info(project: str, branch: str, flow_name: str) -> dict[str, Any]:
    """The ``current`` project fields for a run of ``flow_name`` on ``branch`` of ``project``."""
    return {
        "project_name": project,
        "branch_name": branch,
        "is_user_branch": branch.startswith("user."),
        "is_production": branch == "prod" or branch.startswith("prod."),
        "project_flow_name": f"{project}.{branch}.{flow_name}",
    }


_client_objects: Callable[[str, str, int], Any] | None = None


def use_client(factory: Callable[[str, str, int], Any]) -> None:
    """Called by the package root: ``factory(kind, pathspec, attempt)`` builds client objects for
    ``current.run`` / ``current.task`` (the DSL does not import the client itself)."""
    global _client_objects
    _client_objects = factory


class Current:
    """Read-only view of the running task; known attributes are None outside a step."""

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}

    def _set(self, **info: Any) -> None:
        self._info = dict(info)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "tags" and self._info:  # the run's user tags, as a set (Metaflow's: code calls .update)
            return {t for t in self._info.get("tags") or [] if not t.startswith(SYSTEM_TAG_PREFIXES)}
        if name in self._info:
            return self._info[name]
        if name in PROJECT_FIELDS:
            project = self._project()
            if project is None:
                raise AttributeError(f"current.{name} is set only in a flow decorated with @project(name=...)")
            return project[name]
        if name in FIELDS:
            return None
        raise AttributeError(f"current has no attribute {name!r}")

    def _project(self) -> dict[str, Any] | None:
        tags = self._info.get("tags") or []
        project = next((t.split(":", 1)[1] for t in tags if t.startswith("project:")), None)
        branch = next((t.split(":", 1)[1] for t in tags if t.startswith("project_branch:")), None)
        if project is None or branch is None:
            return None
        return project_info(project, branch, self._info.get("flow_name") or "")

    @property
    def is_running_flow(self) -> bool:
        return bool(self._info)

    @property
    def pathspec(self) -> str | None:
        if not self._info:
            return None
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"

    @property
    def run(self) -> Any:
        """The running flow's client ``Run`` (whatever the namespace), None outside a step."""
        if not self._info or _client_objects is None:
            return None
        return _client_objects("run", f"{self.flow_name}/{self.run_id}", 0)

    @property
    def task(self) -> Any:
        """The running task's client ``Task`` (this attempt, still running), None outside a step."""
        if not self._info or _client_objects is None:
            return None
        return _client_objects("task", self.pathspec or "", int(self._info.get("retry_count") or 0))

    @property
    def trigger(self) -> Any:
        """What started this run on Airflow (``@trigger`` / ``@trigger_on_finish``): a ``Trigger``
        with ``.event(s)`` and ``.run(s)``; None for a run nobody's event started (manual, local)."""
        records = self._info.get("trigger")
        if not records:
            return None
        from airflow_ml_provider.dsl.triggers import Trigger

        return Trigger(records, lambda pathspec: _client_objects("run", pathspec, 0) if _client_objects else None)

    @property
    def logical_date(self) -> datetime | None:
        value = self._info.get("logical_date")
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    def __dir__(self) -> list[str]:
        names = set(FIELDS) | {"is_running_flow", "pathspec", "logical_date", "run", "task", "trigger"}
        if self._project() is not None:
            names.update(PROJECT_FIELDS)
        return sorted(names)

    def __repr__(self) -> str:
        return f"current({self._info!r})"


current = Current()
"""Fields: see FIELDS and PROJECT_FIELDS, plus pathspec, is_running_flow, run and task."""
