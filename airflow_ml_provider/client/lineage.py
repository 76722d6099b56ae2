"""Where a task or run sits and comes from: Metaflow's ``parent``, ``parent_tasks``, ``child_tasks``
and ``origin_pathspec``, read from the records (an attempt lists its ``parents``; a resumed run
names its ``origin_run_id``; a reused task its ``cloned_from``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ml_provider.client.core import Run, Step, Task


class InheritedTags:
    """Steps, tasks and artifacts carry their run's tags, as in Metaflow (read afresh each time)."""

    pathspec: str

    def _owning_run(self) -> Run:
        from airflow_ml_provider.client.core import Run

        flow, run = self.pathspec.split("/")[:2]
        return Run(f"{flow}/{run}", _namespace_check=False)

    @property
    def tags(self) -> frozenset[str]:
        return self._owning_run().tags

    @property
    def user_tags(self) -> frozenset[str]:
        return self._owning_run().user_tags

    @property
    def system_tags(self) -> frozenset[str]:
        return self._owning_run().system_tags

    @property
    def path_components(self) -> list[str]:
        """The pathspec's parts, e.g. ``["Flow", "run", "step", "task"]``."""
        return self.pathspec.split("/")


class TaskLineage(InheritedTags):
    """Mixed into ``Task``."""

    flow_name: str
    run_id: str
    step_name: str
    id: str
    metadata: dict[str, Any]

    @property
    def parent(self) -> Step:
        """The step this task belongs to."""
        from airflow_ml_provider.client.core import Step

        return Step(f"{self.flow_name}/{self.run_id}/{self.step_name}", _namespace_check=False)

    @property
    def parent_tasks(self) -> Iterator[Task]:
        """The tasks whose artifacts this task started from (a join has several)."""
        from airflow_ml_provider.client.core import Task

        for parent in self.metadata.get("parents") or []:
            yield Task(f"{self.flow_name}/{self.run_id}/{parent}", _namespace_check=False)

    @property
    def child_tasks(self) -> Iterator[Task]:
        """The tasks that started from this one (read from the later steps' records)."""
        me = f"{self.step_name}/{self.id}"
        run = self.parent.parent
        for step in run.steps():
            if step.id == self.step_name:
                continue
            for task in step.tasks():
                if me in (task.metadata.get("parents") or []):
                    yield task

    @property
    def metadata_dict(self) -> dict[str, str]:
        """Metaflow's flat ``{name: value}`` view of the task's metadata (strings).

        ``attempt``; ``python_version`` of the step's interpreter; in a resumed run
        ``origin-run-id`` on every task and ``origin-task-id`` on the tasks it reused (cloned).
        ``metadata`` is the attempt record by key and these entries when iterated (client/metadata.py).
        """
        meta = self.metadata
        out = {"attempt": str(meta.get("attempt", 0))}
        python = (meta.get("execution") or {}).get("python_version")
        if python:
            out["python_version"] = str(python)
        origin_run = self.parent.parent.metadata.get("origin_run_id")  # type: ignore[attr-defined]
        if origin_run:
            out["origin-run-id"] = str(origin_run)
        cloned = meta.get("cloned_from")
        if cloned:
            out["origin-task-id"] = str(cloned).split("/")[2]
        return out

    @property
    def origin_pathspec(self) -> str | None:
        """For a task a resumed run reused: the origin task it was cloned from, else None."""
        cloned = self.metadata.get("cloned_from")
        if not cloned:
            return None
        run, step, task = str(cloned).split("/")[:3]
        return f"{self.flow_name}/{run}/{step}/{task}"


class StepLineage(InheritedTags):
    """Mixed into ``Step``."""

    flow_name: str
    run_id: str
    id: str

    def tasks(self) -> list[Task]: ...

    @property
    def child_steps(self) -> Iterator[Step]:
        """The steps whose tasks started from this step's tasks, in the run's order."""
        mine = {f"{self.id}/{t.id}" for t in self.tasks()}
        for step in self.parent.steps():
            first = next(iter(step.tasks()), None)
            if first is not None and mine & set(first.metadata.get("parents") or []):
                yield step

    @property
    def origin_pathspec(self) -> str | None:
        """For a step a resumed run reused: the same step of the origin run, else None."""
        first = next(iter(self.tasks()), None)
        origin = first.origin_pathspec if first is not None else None
        return origin.rsplit("/", 1)[0] if origin else None

    @property
    def parent(self) -> Run:
        """The run this step belongs to."""
        from airflow_ml_provider.client.core import Run

        return Run(f"{self.flow_name}/{self.run_id}", _namespace_check=False)  # going up never re-checks


def origin_pathspec(flow_name: str, metadata: dict[str, Any]) -> str | None:
    """For a resumed run: the run it resumed, else None."""
    origin = metadata.get("origin_run_id")
    return f"{flow_name}/{origin}" if origin else None
