"""``FlowSpec``: the base class of a flow, with Metaflow's step-facing API.

Artifacts are plain attributes (``self.x = ...``). Inherited artifacts load lazily: reading
``self.model`` in a step fetches that one blob the first time it is touched, so a step that
needs one small value from a parent never pays for its large ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

RESERVED_NAMES = frozenset(
    {
        "next", "input", "index", "foreach_stack", "merge_artifacts", "name", "script_name",
        "run", "cmd", "current", "parameters",
    }
)  # fmt: skip


class MergeArtifactsError(Exception):
    """Join inputs disagree on an artifact that ``merge_artifacts`` was asked to merge."""


class InvalidNextError(Exception):
    """A ``self.next(...)`` call that does not match the flow's graph."""


class ArtifactSource:
    """Where a task's inherited artifacts come from; filled in by the runtime.

    ``records`` maps artifact name -> stored record, ``load`` turns a record into a value.
    """

    def __init__(self, records: dict[str, Any] | None = None, load: Any = None) -> None:
        self.records: dict[str, Any] = dict(records or {})
        self.load = load

    def get(self, name: str) -> Any:
        return self.load(self.records[name])


class _TaskView:
    """Lazy, read-only artifacts of one parent task, as seen from a join's ``inputs``."""

    def __init__(self, step: str, task_id: str, source: ArtifactSource, foreach_frame: Any = None) -> None:
        self._step = step
        self._task_id = task_id
        self._source = source
        self._frame = foreach_frame
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            if name not in self._source.records:
                raise AttributeError(f"step {self._step!r} task {self._task_id} has no artifact {name!r}")
            self._cache[name] = self._source.get(name)
        return self._cache[name]

    @property
    def index(self) -> int | None:
        return self._frame["index"] if self._frame else None

    def __repr__(self) -> str:
        return f"<inputs {self._step}/{self._task_id}>"


class Inputs:
    """A join's ``inputs``: iterate in foreach order, or ``inputs.<step>`` after a static branch."""

    def __init__(self, views: list[_TaskView]) -> None:
        self._views = views

    def __iter__(self) -> Iterator[_TaskView]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __getitem__(self, i: int) -> _TaskView:
        return self._views[i]

    def __getattr__(self, step: str) -> _TaskView:
        if step.startswith("_"):
            raise AttributeError(step)
        for view in self._views:
            if view._step == step:
                return view
        raise AttributeError(f"no join input from step {step!r}; inputs: {[v._step for v in self._views]}")


class FlowSpec:
    """Base class of a flow: subclass it and write ``@step`` methods."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from airflow_ml_provider.dsl.flow_decorator import on_flow_class_defined

        on_flow_class_defined(cls)

    def __init__(self, use_cli: bool = True) -> None:
        object.__setattr__(self, "_ml_source", ArtifactSource())
        object.__setattr__(self, "_ml_transition", None)
        object.__setattr__(self, "_ml_foreach_stack", [])
        object.__setattr__(self, "_ml_input_loader", None)
        if use_cli:
            from airflow_ml_provider.runtime.flow_cli import main

            main(type(self))

    # -- artifacts -------------------------------------------------------------------------
    def _ml_get_artifact(self, name: str) -> Any:
        if name in self.__dict__:
            return self.__dict__[name]
        source: ArtifactSource = self.__dict__.get("_ml_source") or ArtifactSource()
        if name in source.records:
            value = source.get(name)
            self.__dict__[name] = value
            return value
        raise AttributeError(f"flow {type(self).__name__} has no artifact {name!r} in this step")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._ml_get_artifact(name)

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- transitions -----------------------------------------------------------------------
    def next(self, *targets: Any, foreach: str | None = None) -> None:
        """Name the step(s) to run after this one; ``foreach="attr"`` fans out over ``self.attr``."""
        if not targets:
            raise InvalidNextError("self.next() needs at least one step")
        names = []
        for target in targets:
            func = getattr(target, "__func__", target)
            if not getattr(func, "_ml_step", False):
                raise InvalidNextError(f"self.next({target!r}): argument is not a @step of this flow")
            names.append(func.__name__)
        if foreach is not None and (not isinstance(foreach, str) or len(names) != 1):
            raise InvalidNextError("self.next(self.step, foreach='attribute_name') takes one step")
        object.__setattr__(self, "_ml_transition", (names, foreach))

    # -- foreach ---------------------------------------------------------------------------
    @property
    def index(self) -> int | None:
        stack = self.__dict__.get("_ml_foreach_stack") or []
        return stack[-1]["index"] if stack else None

    @property
    def input(self) -> Any:
        stack = self.__dict__.get("_ml_foreach_stack") or []
        if not stack:
            return None
        loader = self.__dict__.get("_ml_input_loader")
        return loader(len(stack) - 1) if loader else None

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """``(index, num_splits, value)`` for each enclosing foreach, outermost first."""
        stack = self.__dict__.get("_ml_foreach_stack") or []
        loader = self.__dict__.get("_ml_input_loader")
        return [(f["index"], f["num_splits"], loader(i) if loader else None) for i, f in enumerate(stack)]

    # -- joins -----------------------------------------------------------------------------
    def merge_artifacts(
        self, inputs: Inputs, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> None:
        """Adopt artifacts on which all ``inputs`` agree (compared by content key, nothing loaded).

        Artifacts already set in this step are left alone; a name whose inputs disagree raises
        :class:`MergeArtifactsError` unless it is excluded (or, with ``include``, not listed).
        """
        include_set = set(include or ())
        exclude_set = set(exclude or ())
        if include_set and exclude_set:
            raise MergeArtifactsError("merge_artifacts takes include= or exclude=, not both")
        keys: dict[str, dict[str, Any]] = {}
        for view in inputs:
            for name, record in view._source.records.items():
                keys.setdefault(name, {})[record["key"]] = record
        missing = include_set - set(keys)
        if missing:
            raise MergeArtifactsError(f"merge_artifacts(include=...) names unknown artifacts: {sorted(missing)}")
        source: ArtifactSource = self.__dict__["_ml_source"]
        conflicts = []
        for name, by_key in sorted(keys.items()):
            if name in self.__dict__ or name in exclude_set or (include_set and name not in include_set):
                continue
            if len(by_key) > 1:
                conflicts.append(name)
                continue
            source.records[name] = next(iter(by_key.values()))
        if conflicts:
            raise MergeArtifactsError(
                f"join inputs disagree on {conflicts}: set them in the join step, or pass "
                f"exclude={conflicts!r} to merge_artifacts"
            )
